"""Rule classification_download_data: one published data file, retried, resumed, MD5-checked."""

from neurocircuit.data.download import download_dataset_file
from neurocircuit.runtime import get_logger

download_dataset_file(
    snakemake.wildcards.dataset,
    snakemake.wildcards.filename,
    snakemake.output.file,
    data_dir=snakemake.params.data_dir,
    logger=get_logger("classification_download_data", snakemake.log[0]),
)
