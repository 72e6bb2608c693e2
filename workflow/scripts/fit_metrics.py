"""Rule fit_metrics: metrics.json of a run (in-sample, held-out and forecast scores together)."""

from neurocircuit.fit.jobs import merge_fit_metrics
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False):
    merge_fit_metrics(
        snakemake.input.scores,
        snakemake.input.heldout,
        snakemake.output.metrics,
        snakemake.input.forecast,
    )
