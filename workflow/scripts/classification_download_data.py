"""Rule classification_download_data: one published data file, retried, resumed, MD5-checked."""

from neurocircuit.data.download import download_dataset_file
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    download_dataset_file(
        snakemake.wildcards.dataset,
        snakemake.wildcards.filename,
        snakemake.output.file,
        data_dir=snakemake.params.data_dir,
        logger=logger,
    )
