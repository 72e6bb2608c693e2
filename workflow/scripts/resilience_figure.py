"""Rule resilience_figure: the paper-style resilience figure of one measure on one data set."""

from neurocircuit.ablation.resilience_jobs import plot_resilience_files
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False):
    plot_resilience_files(
        list(job.input.curves),
        list(job.input.areas),
        job.input.summary,
        job.output.png,
        job.output.pdf,
        job.params.measure,
        job.params.figure_settings,
        job.wildcards.dataset,
        dpi=job.params.dpi,
        font_size=job.params.font_size,
    )
