"""Rule imaging_split_planes: check a movie and write one int16 binary per plane."""

from neurocircuit.imaging.planes import split_movie_into_planes
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    split_movie_into_planes(
        movie_path=snakemake.input.movie,
        out_dir=snakemake.output.planes,
        logger=logger,
        **snakemake.params.movie,
    )
