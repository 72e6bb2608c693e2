"""Rule fit_download_zebrafish: the NeuroTorch zebrafish recording, checksum-verified."""

from neurocircuit.fit import download_verified
from neurocircuit.runtime import get_logger

get_logger("fit_download_zebrafish", snakemake.log[0]).info("downloading %s", snakemake.params.url)
download_verified(snakemake.params.url, snakemake.output.recording, snakemake.params.sha256)
