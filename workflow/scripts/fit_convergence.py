"""Rule fit_convergence: iterations to reach the convergence pVar, every run in one table."""

from neurocircuit.fit import write_convergence_table

write_convergence_table(snakemake.input.metrics, snakemake.output.table)
