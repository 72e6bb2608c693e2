"""Rule imaging_suite2p_plane: suite2p registration, detection and extraction of one plane."""

from pathlib import Path

from neurocircuit.imaging.suite2p_plane import run_suite2p_plane
from neurocircuit.runtime import rule_job

with rule_job(snakemake) as logger:
    run_suite2p_plane(
        planes_dir=snakemake.input.planes,
        plane=int(snakemake.wildcards.plane),
        out_dir=Path(snakemake.output.F).parent,
        params=snakemake.params.settings,
        device=snakemake.params.device,
        threads=snakemake.threads,
        keep_registered_movie=snakemake.params.settings["keep_registered_movie"],
        logger=logger,
    )
