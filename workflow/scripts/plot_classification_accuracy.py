from neurocircuit.figures import plot_classification_accuracy
from neurocircuit.runtime import get_logger

logger = get_logger("plot_classification_accuracy", snakemake.log[0])
plot_classification_accuracy(
    snakemake.input.summary,
    snakemake.output.png,
    snakemake.output.pdf,
    dpi=snakemake.params.dpi,
    font_size=snakemake.params.font_size,
)
logger.info("wrote %s and %s", snakemake.output.png, snakemake.output.pdf)
