from neurocircuit.figures import plot_pvar_per_neuron
from neurocircuit.runtime import get_logger

logger = get_logger("plot_pvar_per_neuron", snakemake.log[0])
plot_pvar_per_neuron(
    list(snakemake.input.per_neuron),
    list(snakemake.input.metrics),
    snakemake.output.png,
    snakemake.output.pdf,
    dpi=snakemake.params.dpi,
    font_size=snakemake.params.font_size,
)
logger.info("wrote %s and %s", snakemake.output.png, snakemake.output.pdf)
