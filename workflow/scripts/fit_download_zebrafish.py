"""Rule fit_download_zebrafish: the NeuroTorch zebrafish recording, resumable, sha256-checked."""

from neurocircuit.fit.download import download_zebrafish_recording
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    download_zebrafish_recording(
        job.params.url,
        job.output.recording,
        sha256=job.params.sha256,
        data_dir=job.params.data_dir,
        logger=logger,
    )
