"""Rule imaging_simulate_volume: simulate the synthetic volumetric recording and its truth."""

from neurocircuit.imaging.synthetic import simulate_volumetric_recording
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    simulate_volumetric_recording(
        movie_path=snakemake.output.movie,
        truth_path=snakemake.output.truth,
        params=snakemake.params.synthetic,
        seed=snakemake.params.seed,
        logger=logger,
    )
