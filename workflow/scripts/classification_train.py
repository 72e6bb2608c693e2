"""Rule classification_train: train one classifier (progress bar into the rule's log)."""

from neurocircuit.classification import train_classifier
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, allocator=True, capture_stderr=True) as logger:
    train_classifier(
        job.wildcards.dataset,
        dict(job.input.items()),
        seed=int(job.wildcards.seed),
        metrics_path=job.output.metrics,
        history_path=job.output.history,
        logger=logger,
        settings=job.params.classification_settings,
        validation_fraction=job.params.validation_fraction,
        split_seed=job.params.split_seed,
        digits_test_fraction=job.params.digits_test_fraction,
        device=job.params.device,
        model_name=job.wildcards.model,
    )
