"""Rule fit_convergence: iterations to reach the convergence pVar, every run in one table."""

from neurocircuit.fit.convergence import write_convergence_table
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False):
    write_convergence_table(snakemake.input.metrics, snakemake.output.table)
