"""Rule imaging_qc_figure: planes with ROI outlines, ΔF/F raster and example traces."""

from neurocircuit.imaging.qc import draw_session_qc
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    draw_session_qc(
        png=snakemake.output.png,
        pdf=snakemake.output.pdf,
        logger=logger,
        **dict(snakemake.input.items()),
    )
