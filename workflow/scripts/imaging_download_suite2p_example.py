"""Rule imaging_download_suite2p_example: fetch the real suite2p folder (pynapple test data)."""

from neurocircuit.imaging.download import fetch_suite2p_example
from neurocircuit.imaging.logs import errors_logged
from neurocircuit.runtime import get_logger

logger = get_logger("imaging_download_suite2p_example", snakemake.log[0])
with errors_logged(logger):
    fetch_suite2p_example(snakemake.output.folder, logger=logger)
