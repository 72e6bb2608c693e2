"""Rule fit_forecast: windowed forecasts of the held-out block by the held-out network."""

from neurocircuit.fit.forecast import forecast_fit_file
from neurocircuit.runtime import rule_job

with rule_job(snakemake) as logger:
    forecast_fit_file(
        snakemake.input.activity,
        snakemake.input.model,
        dict(snakemake.output.items()),
        snakemake.params.run,
        logger,
    )
