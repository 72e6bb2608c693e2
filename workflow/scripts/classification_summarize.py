"""Rule classification_summarize: mean ± sd over seeds per data set and model, with references."""

from neurocircuit.classification import summarize_classification
from neurocircuit.runtime import get_logger

logger = get_logger("classification_summarize", snakemake.log[0])
summary = summarize_classification(snakemake.input.metrics, snakemake.output.summary)
logger.info("summary of %d data set x model rows:\n%s", len(summary), summary.to_string())
