"""Rule imaging_suite2p_plane: suite2p registration, detection and extraction of one plane."""

from pathlib import Path

from neurocircuit.imaging.suite2p_plane import run_suite2p_plane
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job) as logger:
    run_suite2p_plane(
        planes_dir=job.input.planes,
        plane=int(job.wildcards.plane),
        out_dir=Path(job.output.F).parent,
        params=job.params.suite2p_settings,
        device=job.params.device,
        threads=job.threads,
        keep_registered_movie=job.params.suite2p_settings["keep_registered_movie"],
        logger=logger,
    )
