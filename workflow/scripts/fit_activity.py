"""Rule fit_activity: fit one network to a whole recording and score it against baselines."""

from neurocircuit.fit.jobs import fit_job
from neurocircuit.runtime import rule_job

with rule_job(snakemake, allocator=True) as logger:
    fit_job(
        "full",
        snakemake.input.activity,
        dict(snakemake.output.items()),
        snakemake.params.run,
        logger,
        truth_path=dict(snakemake.input.items()).get("truth"),
    )
