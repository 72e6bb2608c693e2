from neurocircuit.figures import plot_ablation_curves
from neurocircuit.runtime import get_logger

logger = get_logger("plot_ablation_curves", snakemake.log[0])
plot_ablation_curves(
    list(snakemake.input.curves),
    snakemake.output.png,
    snakemake.output.pdf,
    dpi=snakemake.params.dpi,
    font_size=snakemake.params.font_size,
)
logger.info("wrote %s and %s", snakemake.output.png, snakemake.output.pdf)
