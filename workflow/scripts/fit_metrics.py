"""Rule fit_metrics: metrics.json of a run (in-sample, held-out and forecast scores together)."""

from neurocircuit.fit.jobs import merge_fit_metrics
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False):
    merge_fit_metrics(
        job.input.scores,
        job.input.heldout,
        job.output.metrics,
        job.input.forecast,
    )
