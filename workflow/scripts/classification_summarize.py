"""Rule classification_summarize: mean ± sd over seeds per data set and model, with references."""

from neurocircuit.classification import summarize_classification
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    summary = summarize_classification(job.input.metrics, job.output.summary)
    logger.info("summary of %d data set x model rows:\n%s", len(summary), summary.to_string())
