from neurocircuit.figures import plot_connectivity
from neurocircuit.runtime import get_logger

logger = get_logger("plot_connectivity", snakemake.log[0])
plot_connectivity(
    list(snakemake.input.weights),
    snakemake.output.png,
    snakemake.output.pdf,
    dpi=snakemake.params.dpi,
    font_size=snakemake.params.font_size,
)
logger.info("wrote %s and %s", snakemake.output.png, snakemake.output.pdf)
