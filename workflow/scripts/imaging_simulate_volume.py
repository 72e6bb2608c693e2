"""Rule imaging_simulate_volume: simulate the synthetic volumetric recording and its truth."""

from neurocircuit.imaging.logs import errors_logged
from neurocircuit.imaging.synthetic import simulate_volumetric_recording
from neurocircuit.runtime import get_logger

logger = get_logger("imaging_simulate_volume", snakemake.log[0])
with errors_logged(logger):
    recording = simulate_volumetric_recording(
        movie_path=snakemake.output.movie,
        truth_path=snakemake.output.truth,
        params=snakemake.params.synthetic,
        seed=snakemake.params.seed,
    )
    logger.info(
        "simulated movie %s and %d neurons", recording.movie.shape, len(recording.positions)
    )
