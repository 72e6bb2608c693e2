"""Rule plot_ablation_areas: ablation curve areas, per model and per single-factor test."""

from neurocircuit.figures.ablation import plot_ablation_areas
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    plot_ablation_areas(
        job.input.summary,
        job.output.png,
        job.output.pdf,
        dataset=job.wildcards.dataset,
        dpi=job.params.dpi,
        font_size=job.params.font_size,
    )
