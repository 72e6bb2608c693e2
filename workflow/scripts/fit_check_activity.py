"""Rule fit_check_activity: check a recording before any fit job is scheduled."""

from neurocircuit.fit import check_activity_file
from neurocircuit.runtime import get_logger

logger = get_logger("fit_check_activity", snakemake.log[0])
try:
    summary = check_activity_file(
        snakemake.input.activity,
        snakemake.output.check,
        snakemake.params.fit,
        snakemake.wildcards.dataset,
    )
except (OSError, ValueError) as error:
    logger.error("%s", error)
    raise SystemExit(f"fit_check_activity: {error}") from None
logger.info("%s", summary)
