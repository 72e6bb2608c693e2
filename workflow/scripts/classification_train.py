"""Rule classification_train: train one classifier (log and progress bar go to the rule's log)."""

import contextlib

from neurocircuit.classification import train_classifier
from neurocircuit.runtime import configure_cpu_allocator, get_logger, set_threads

set_threads(snakemake.threads)
configure_cpu_allocator()
with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):
    train_classifier(
        snakemake.wildcards.dataset,
        dict(snakemake.input.items()),
        seed=int(snakemake.wildcards.seed),
        metrics_path=snakemake.output.metrics,
        history_path=snakemake.output.history,
        logger=get_logger("classification_train"),
        **snakemake.params.run,
    )
