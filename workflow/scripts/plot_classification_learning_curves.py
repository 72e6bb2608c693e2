from neurocircuit.figures import plot_learning_curves
from neurocircuit.runtime import get_logger

logger = get_logger("plot_classification_learning_curves", snakemake.log[0])
plot_learning_curves(
    list(snakemake.input.histories),
    snakemake.output.png,
    snakemake.output.pdf,
    dpi=snakemake.params.dpi,
    font_size=snakemake.params.font_size,
)
logger.info("wrote %s and %s", snakemake.output.png, snakemake.output.pdf)
