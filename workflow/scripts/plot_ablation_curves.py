"""Rule plot_ablation_curves: pVar ratio against the fraction of connections removed."""

from neurocircuit.figures.ablation import plot_ablation_curves
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    plot_ablation_curves(
        list(snakemake.input.curves),
        snakemake.output.png,
        snakemake.output.pdf,
        dpi=snakemake.params.dpi,
        font_size=snakemake.params.font_size,
    )
