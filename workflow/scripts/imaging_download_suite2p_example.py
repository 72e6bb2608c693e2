"""Rule imaging_download_suite2p_example: the real suite2p folder (pynapple's test data)."""

from neurocircuit.imaging.download import fetch_suite2p_example
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    fetch_suite2p_example(snakemake.output.folder, logger=logger)
