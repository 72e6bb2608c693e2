"""Rule fit_download_zebrafish: the NeuroTorch zebrafish recording, resumable, sha256-checked."""

from neurocircuit.fit.download import download_zebrafish_recording
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    download_zebrafish_recording(
        snakemake.params.url,
        snakemake.output.recording,
        sha256=snakemake.params.sha256,
        data_dir=snakemake.params.data_dir,
        logger=logger,
    )
