"""Rule plot_forecast: windowed forecast error against horizon, every model and baseline."""

from neurocircuit.figures.forecast import plot_forecast
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False):
    plot_forecast(
        list(job.input.tables),
        job.output.png,
        job.output.pdf,
        dpi=job.params.dpi,
        font_size=job.params.font_size,
    )
