"""Rule imaging_qc_figure: planes with ROI outlines, ΔF/F raster and example traces."""

from neurocircuit.imaging.qc import draw_session_qc
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    draw_session_qc(
        png=job.output.png,
        pdf=job.output.pdf,
        logger=logger,
        **dict(job.input.items()),
    )
