"""Rule imaging_qc_figure: planes with ROI outlines, ΔF/F raster and example traces."""

from neurocircuit.imaging.logs import errors_logged
from neurocircuit.imaging.qc import draw_session_qc
from neurocircuit.runtime import get_logger

logger = get_logger("imaging_qc_figure", snakemake.log[0])
with errors_logged(logger):
    draw_session_qc(
        png=snakemake.output.png, pdf=snakemake.output.pdf, **dict(snakemake.input.items())
    )
    logger.info("wrote %s", snakemake.output.png)
