"""Rule plot_pvar_per_neuron: pVar per neuron, in-sample and held out, against the baselines."""

from neurocircuit.figures.activity import plot_pvar_per_neuron
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    plot_pvar_per_neuron(
        list(snakemake.input.per_neuron),
        list(snakemake.input.metrics),
        snakemake.output.png,
        snakemake.output.pdf,
        dpi=snakemake.params.dpi,
        font_size=snakemake.params.font_size,
    )
