"""Rule plot_fit_activity: recorded vs fitted activity (heatmaps and example traces) of one run."""

from neurocircuit.figures.activity import plot_recorded_vs_fitted
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    plot_recorded_vs_fitted(
        job.input.prediction,
        job.output.png,
        job.output.pdf,
        n_examples=job.params.example_neurons,
        dpi=job.params.dpi,
        font_size=job.params.font_size,
    )
