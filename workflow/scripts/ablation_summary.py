"""Rule ablation_summary: areas under every ablation curve and single-factor Welch's t-tests."""

from neurocircuit.ablation import summarise_ablation_files
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False):
    summarise_ablation_files(job.input.curves, job.params.ablation_runs, job.output.summary)
