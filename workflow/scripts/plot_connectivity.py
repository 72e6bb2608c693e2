"""Rule plot_connectivity: recurrent weight matrices with each neuron's E/I identity."""

from neurocircuit.figures.connectivity import plot_connectivity
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    plot_connectivity(
        list(job.input.weights),
        job.output.png,
        job.output.pdf,
        dpi=job.params.dpi,
        font_size=job.params.font_size,
    )
