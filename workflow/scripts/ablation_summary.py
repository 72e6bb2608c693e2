"""Rule ablation_summary: areas under every ablation curve and single-factor Welch's t-tests."""

from neurocircuit.ablation import summarise_ablation_files
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False):
    summarise_ablation_files(
        snakemake.input.curves, snakemake.params.runs, snakemake.output.summary
    )
