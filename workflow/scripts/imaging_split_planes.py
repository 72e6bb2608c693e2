"""Rule imaging_split_planes: check a movie and write one int16 binary per plane."""

from neurocircuit.imaging.planes import split_movie_into_planes
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    split_movie_into_planes(
        movie_path=job.input.movie,
        out_dir=job.output.planes,
        logger=logger,
        **job.params.movie_reading,
    )
