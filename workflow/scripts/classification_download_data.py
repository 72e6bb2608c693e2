"""Rule classification_download_data: one published data file, retried, resumed, MD5-checked."""

from neurocircuit.data.download import download_dataset_file
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    download_dataset_file(
        job.wildcards.dataset,
        job.wildcards.filename,
        job.output.file,
        data_dir=job.params.data_dir,
        logger=logger,
    )
