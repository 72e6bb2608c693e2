from neurocircuit.figures import plot_convergence
from neurocircuit.runtime import get_logger

logger = get_logger("plot_convergence", snakemake.log[0])
plot_convergence(
    list(snakemake.input.histories),
    snakemake.input.convergence,
    snakemake.output.png,
    snakemake.output.pdf,
    dataset=snakemake.wildcards.dataset,
    dpi=snakemake.params.dpi,
    font_size=snakemake.params.font_size,
)
logger.info("wrote %s and %s", snakemake.output.png, snakemake.output.pdf)
