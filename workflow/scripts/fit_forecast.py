"""Rule fit_forecast: windowed forecasts of the held-out block by the held-out network."""

from neurocircuit.fit.forecast import forecast_fit_file
from neurocircuit.runtime import rule_job, script_job
from neurocircuit.workflow.fit import forecast_run

job = script_job(globals().get("snakemake"))
with rule_job(job) as logger:
    forecast_fit_file(
        job.input.activity,
        job.input.model,
        dict(job.output.items()),
        forecast_run(job.params),
        logger,
    )
