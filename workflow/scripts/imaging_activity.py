"""Rule imaging_activity: a session's ΔF/F (one neuron, one row) and its metrics."""

from neurocircuit.imaging.logs import errors_logged
from neurocircuit.imaging.pipeline import build_session_activity
from neurocircuit.runtime import get_logger

logger = get_logger("imaging_activity", snakemake.log[0])
with errors_logged(logger):
    build_session_activity(
        session=snakemake.params.session,
        settings=snakemake.params.settings,
        activity_path=snakemake.output.activity,
        metrics_path=snakemake.output.metrics,
        logger=logger,
        **dict(snakemake.input.items()),
    )
