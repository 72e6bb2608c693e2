"""Rule ablation_curves: pVar of one fitted network as its connections are removed."""

from neurocircuit.ablation import ablate_fitted_model
from neurocircuit.runtime import configure_cpu_allocator, get_logger, set_threads

set_threads(snakemake.threads)
configure_cpu_allocator()
ablate_fitted_model(
    snakemake.input.model,
    snakemake.input.prediction,
    snakemake.output.curves,
    snakemake.params.ablation,
    logger=get_logger("ablation_curves", snakemake.log[0]),
)
