"""Rule plot_connectivity: recurrent weight matrices with each neuron's E/I identity."""

from neurocircuit.figures.connectivity import plot_connectivity
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    plot_connectivity(
        list(snakemake.input.weights),
        snakemake.output.png,
        snakemake.output.pdf,
        dpi=snakemake.params.dpi,
        font_size=snakemake.params.font_size,
    )
