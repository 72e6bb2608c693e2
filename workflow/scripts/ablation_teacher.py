"""Rule ablation_teacher: pVar of a synthetic session's teacher as its connections are removed."""

from neurocircuit.fit.truth import ablate_teacher
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    ablate_teacher(
        snakemake.input.truth,
        snakemake.input.activity,
        snakemake.output.curves,
        snakemake.params.recording,
        snakemake.params.preprocessing,
        snakemake.params.ablation,
        logger=logger,
    )
