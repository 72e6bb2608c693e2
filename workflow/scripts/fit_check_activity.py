"""Rule fit_check_activity: check a recording before any fit job is scheduled."""

from neurocircuit.fit.jobs import check_activity_file
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    summary = check_activity_file(
        job.input.activity,
        job.output.check,
        job.params.recording_settings,
        job.wildcards.dataset,
    )
    logger.info("%s", summary)
