"""Rule plot_ablation_areas: ablation curve areas, per model and per single-factor test."""

from neurocircuit.figures.ablation import plot_ablation_areas
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    plot_ablation_areas(
        snakemake.input.summary,
        snakemake.output.png,
        snakemake.output.pdf,
        dataset=snakemake.wildcards.dataset,
        dpi=snakemake.params.dpi,
        font_size=snakemake.params.font_size,
    )
