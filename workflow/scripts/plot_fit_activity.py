"""Rule plot_fit_activity: recorded vs fitted activity (heatmaps and example traces) of one run."""

from neurocircuit.figures.activity import plot_recorded_vs_fitted
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    plot_recorded_vs_fitted(
        snakemake.input.prediction,
        snakemake.output.png,
        snakemake.output.pdf,
        n_examples=snakemake.params.example_neurons,
        dpi=snakemake.params.dpi,
        font_size=snakemake.params.font_size,
    )
