"""Rule ablation_curves: pVar of one fitted network as its connections are removed."""

from neurocircuit.ablation import ablate_fitted_model
from neurocircuit.runtime import rule_job

with rule_job(snakemake, allocator=True) as logger:
    ablate_fitted_model(
        snakemake.input.model,
        snakemake.input.prediction,
        snakemake.output.curves,
        snakemake.params.ablation,
        logger=logger,
    )
