"""Rule plot_forecast: windowed forecast error against horizon, every model and baseline."""

from neurocircuit.figures.forecast import plot_forecast
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False):
    plot_forecast(
        list(snakemake.input.tables),
        snakemake.output.png,
        snakemake.output.pdf,
        dpi=snakemake.params.dpi,
        font_size=snakemake.params.font_size,
    )
