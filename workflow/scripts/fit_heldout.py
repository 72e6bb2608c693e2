"""Rule fit_heldout: train on the first frames, forecast the held-out last ones."""

from neurocircuit.fit import fit_job

fit_job(
    "heldout",
    snakemake.input.activity,
    dict(snakemake.output.items()),
    snakemake.params.run,
    snakemake.threads,
    snakemake.log[0],
)
