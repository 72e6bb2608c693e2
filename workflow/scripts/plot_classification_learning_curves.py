"""Rule plot_classification_learning_curves: accuracy per epoch, one line per seed."""

from neurocircuit.figures.classification import plot_learning_curves
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    plot_learning_curves(
        list(job.input.histories),
        job.output.png,
        job.output.pdf,
        dpi=job.params.dpi,
        font_size=job.params.font_size,
    )
