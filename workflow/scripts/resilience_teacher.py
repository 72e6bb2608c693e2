"""Rule resilience_teacher: the resilience curves and areas of a synthetic session's teacher."""

from neurocircuit.ablation.resilience_jobs import write_teacher_resilience
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    write_teacher_resilience(
        job.input.truth,
        job.input.activity,
        job.output.curves,
        job.output.areas,
        job.params.recording_settings,
        job.params.preprocessing_settings,
        job.params.resilience_settings,
        job.params.labels,
        logger=logger,
    )
