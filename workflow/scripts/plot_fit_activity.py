from neurocircuit.figures import plot_recorded_vs_fitted
from neurocircuit.runtime import get_logger

logger = get_logger("plot_fit_activity", snakemake.log[0])
plot_recorded_vs_fitted(
    snakemake.input.prediction,
    snakemake.output.png,
    snakemake.output.pdf,
    n_examples=snakemake.params.example_neurons,
    dpi=snakemake.params.dpi,
    font_size=snakemake.params.font_size,
)
logger.info("wrote %s and %s", snakemake.output.png, snakemake.output.pdf)
