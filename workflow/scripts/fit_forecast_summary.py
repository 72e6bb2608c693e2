"""Rule fit_forecast_summary: every forecaster's windowed forecast scores, mean ± sd over seeds."""

from neurocircuit.fit.forecast_summary import write_forecast_summary
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False):
    write_forecast_summary(snakemake.input.tables, snakemake.output.summary)
