"""Rule imaging_split_planes: check a movie and write one int16 binary per plane."""

from neurocircuit.imaging.logs import errors_logged
from neurocircuit.imaging.planes import split_movie_into_planes
from neurocircuit.runtime import get_logger

logger = get_logger("imaging_split_planes", snakemake.log[0])
with errors_logged(logger):
    split_movie_into_planes(
        movie_path=snakemake.input.movie,
        out_dir=snakemake.output.planes,
        logger=logger,
        **snakemake.params.movie,
    )
