"""Rule classification_summarize: mean ± sd over seeds per data set and model, with references."""

from neurocircuit.classification import summarize_classification
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    summary = summarize_classification(snakemake.input.metrics, snakemake.output.summary)
    logger.info("summary of %d data set x model rows:\n%s", len(summary), summary.to_string())
