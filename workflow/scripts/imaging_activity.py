"""Rule imaging_activity: a session's ΔF/F (one neuron, one row), as HDF5 and NWB, and metrics."""

from neurocircuit.imaging.pipeline import build_session_activity
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    build_session_activity(
        session=job.params.session,
        settings=job.params.imaging_settings,
        activity_path=job.output.activity,
        metrics_path=job.output.metrics,
        nwb_path=job.output.nwb,
        logger=logger,
        **dict(job.input.items()),
    )
