"""Rule ablation_curves: pVar of one fitted network as its connections are removed."""

from neurocircuit.ablation import ablate_fitted_model
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, allocator=True) as logger:
    ablate_fitted_model(
        job.input.model,
        job.input.prediction,
        job.output.curves,
        job.params.ablation_settings,
        logger=logger,
    )
