"""Rule resilience_summary: the filter, the primary tests and the exploratory estimates."""

from neurocircuit.ablation.resilience_jobs import summarise_resilience_files
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    summarise_resilience_files(
        list(job.input.curves),
        list(job.input.areas),
        job.output.summary,
        job.params.summary_settings,
        logger=logger,
    )
