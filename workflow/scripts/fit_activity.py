"""Rule fit_activity: fit one network to a whole recording and score it against baselines."""

from neurocircuit.fit import fit_job

fit_job(
    "full",
    snakemake.input.activity,
    dict(snakemake.output.items()),
    snakemake.params.run,
    snakemake.threads,
    snakemake.log[0],
)
