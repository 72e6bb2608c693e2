"""Rule plot_classification_accuracy: test accuracy per data set and model vs published."""

from neurocircuit.figures.classification import plot_classification_accuracy
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    plot_classification_accuracy(
        snakemake.input.summary,
        snakemake.output.png,
        snakemake.output.pdf,
        dpi=snakemake.params.dpi,
        font_size=snakemake.params.font_size,
    )
