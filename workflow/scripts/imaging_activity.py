"""Rule imaging_activity: a session's ΔF/F (one neuron, one row), as HDF5 and NWB, and metrics."""

from neurocircuit.imaging.pipeline import build_session_activity
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    build_session_activity(
        session=snakemake.params.session,
        settings=snakemake.params.settings,
        activity_path=snakemake.output.activity,
        metrics_path=snakemake.output.metrics,
        nwb_path=snakemake.output.nwb,
        logger=logger,
        **dict(snakemake.input.items()),
    )
