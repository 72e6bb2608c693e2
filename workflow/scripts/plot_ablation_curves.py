"""Rule plot_ablation_curves: pVar ratio against the fraction of connections removed."""

from neurocircuit.figures.ablation import plot_ablation_curves
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    plot_ablation_curves(
        list(job.input.curves),
        job.output.png,
        job.output.pdf,
        dpi=job.params.dpi,
        font_size=job.params.font_size,
    )
