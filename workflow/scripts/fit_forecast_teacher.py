"""Rule fit_forecast_teacher: windowed forecasts of a synthetic session's teacher (the ceiling)."""

from neurocircuit.fit.forecast import forecast_teacher_file
from neurocircuit.runtime import rule_job, script_job
from neurocircuit.workflow.fit import forecast_run

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    forecast_teacher_file(
        job.input.activity,
        job.input.truth,
        dict(job.output.items()),
        forecast_run(job.params),
        logger,
    )
