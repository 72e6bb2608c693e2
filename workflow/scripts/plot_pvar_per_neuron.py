"""Rule plot_pvar_per_neuron: pVar per neuron, in-sample and held out, against the baselines."""

from neurocircuit.figures.activity import plot_pvar_per_neuron
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    plot_pvar_per_neuron(
        list(job.input.per_neuron),
        list(job.input.metrics),
        job.output.png,
        job.output.pdf,
        dpi=job.params.dpi,
        font_size=job.params.font_size,
    )
