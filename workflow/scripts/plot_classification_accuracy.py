"""Rule plot_classification_accuracy: test accuracy per data set and model vs published."""

from neurocircuit.figures.classification import plot_classification_accuracy
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    plot_classification_accuracy(
        job.input.summary,
        job.output.png,
        job.output.pdf,
        dpi=job.params.dpi,
        font_size=job.params.font_size,
    )
