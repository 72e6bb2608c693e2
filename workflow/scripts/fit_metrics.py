"""Rule fit_metrics: metrics.json of a run (in-sample and held-out scores together)."""

from neurocircuit.fit import merge_fit_metrics

merge_fit_metrics(snakemake.input.scores, snakemake.input.heldout, snakemake.output.metrics)
