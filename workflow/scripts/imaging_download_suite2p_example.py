"""Rule imaging_download_suite2p_example: the real suite2p folder (pynapple's test data)."""

from neurocircuit.imaging.download import fetch_suite2p_example
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    fetch_suite2p_example(job.output.folder, logger=logger)
