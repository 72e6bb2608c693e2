"""Rule fit_heldout: train on the first frames, forecast the held-out last ones."""

from neurocircuit.fit.jobs import fit_job
from neurocircuit.runtime import rule_job

with rule_job(snakemake, allocator=True) as logger:
    fit_job(
        "heldout",
        snakemake.input.activity,
        dict(snakemake.output.items()),
        snakemake.params.run,
        logger,
        truth_path=dict(snakemake.input.items()).get("truth"),
    )
