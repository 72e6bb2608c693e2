"""Rule classification_train: train one classifier (progress bar into the rule's log)."""

from neurocircuit.classification import train_classifier
from neurocircuit.runtime import rule_job

with rule_job(snakemake, allocator=True, capture_stderr=True) as logger:
    train_classifier(
        snakemake.wildcards.dataset,
        dict(snakemake.input.items()),
        seed=int(snakemake.wildcards.seed),
        metrics_path=snakemake.output.metrics,
        history_path=snakemake.output.history,
        logger=logger,
        **snakemake.params.run,
    )
