"""Rule fit_check_activity: check a recording before any fit job is scheduled."""

from neurocircuit.fit.jobs import check_activity_file
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    summary = check_activity_file(
        snakemake.input.activity,
        snakemake.output.check,
        snakemake.params.recording,
        snakemake.wildcards.dataset,
    )
    logger.info("%s", summary)
