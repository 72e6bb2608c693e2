"""Rule fit_forecast_summary: every forecaster's windowed forecast scores, mean ± sd over seeds."""

from neurocircuit.fit.forecast_summary import write_forecast_summary
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False):
    write_forecast_summary(job.input.tables, job.output.summary)
