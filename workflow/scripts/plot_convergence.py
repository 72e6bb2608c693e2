"""Rule plot_convergence: pVar during training and iterations to the target pVar, per seed."""

from neurocircuit.figures.convergence import plot_convergence
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    plot_convergence(
        list(job.input.histories),
        job.input.convergence,
        job.output.png,
        job.output.pdf,
        dataset=job.wildcards.dataset,
        dpi=job.params.dpi,
        font_size=job.params.font_size,
    )
