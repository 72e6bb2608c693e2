"""Rule imaging_simulate_volume: simulate the synthetic volumetric recording and its truth."""

from neurocircuit.imaging.synthetic import simulate_volumetric_recording
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    simulate_volumetric_recording(
        movie_path=job.output.movie,
        truth_path=job.output.truth,
        params=job.params.synthetic_settings,
        seed=job.params.session_seed,
        logger=logger,
    )
