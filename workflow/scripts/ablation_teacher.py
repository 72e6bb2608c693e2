"""Rule ablation_teacher: pVar of a synthetic session's teacher as its connections are removed."""

from neurocircuit.fit.truth import ablate_teacher
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    ablate_teacher(
        job.input.truth,
        job.input.activity,
        job.output.curves,
        job.params.recording_settings,
        job.params.preprocessing_settings,
        job.params.ablation_settings,
        logger=logger,
    )
