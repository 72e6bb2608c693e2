"""Rule resilience_curves: the paper's resilience curves and areas of one fitted network."""

from neurocircuit.ablation.resilience_jobs import write_fitted_resilience
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job) as logger:
    write_fitted_resilience(
        job.input.model,
        job.input.prediction,
        job.output.curves,
        job.output.areas,
        job.params.resilience_settings,
        job.params.labels,
        logger=logger,
    )
