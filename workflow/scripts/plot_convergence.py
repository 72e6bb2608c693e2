"""Rule plot_convergence: pVar during training and iterations to the target pVar, per seed."""

from neurocircuit.figures.convergence import plot_convergence
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    plot_convergence(
        list(snakemake.input.histories),
        snakemake.input.convergence,
        snakemake.output.png,
        snakemake.output.pdf,
        dataset=snakemake.wildcards.dataset,
        dpi=snakemake.params.dpi,
        font_size=snakemake.params.font_size,
    )
