"""Rule fit_forecast_teacher: windowed forecasts of a synthetic session's teacher (the ceiling)."""

from neurocircuit.fit.forecast import forecast_teacher_file
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    forecast_teacher_file(
        snakemake.input.activity,
        snakemake.input.truth,
        dict(snakemake.output.items()),
        snakemake.params.run,
        logger,
    )
