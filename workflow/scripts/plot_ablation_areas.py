from neurocircuit.figures import plot_ablation_areas
from neurocircuit.runtime import get_logger

logger = get_logger("plot_ablation_areas", snakemake.log[0])
plot_ablation_areas(
    snakemake.input.summary,
    snakemake.output.png,
    snakemake.output.pdf,
    dataset=snakemake.wildcards.dataset,
    dpi=snakemake.params.dpi,
    font_size=snakemake.params.font_size,
)
logger.info("wrote %s and %s", snakemake.output.png, snakemake.output.pdf)
