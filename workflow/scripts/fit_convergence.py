"""Rule fit_convergence: iterations to reach the convergence pVar, every run in one table."""

from neurocircuit.fit.convergence import write_convergence_table
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False):
    write_convergence_table(job.input.metrics, job.output.table)
