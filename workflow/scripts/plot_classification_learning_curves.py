"""Rule plot_classification_learning_curves: accuracy per epoch, one line per seed."""

from neurocircuit.figures.classification import plot_learning_curves
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    plot_learning_curves(
        list(snakemake.input.histories),
        snakemake.output.png,
        snakemake.output.pdf,
        dpi=snakemake.params.dpi,
        font_size=snakemake.params.font_size,
    )
