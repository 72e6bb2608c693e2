"""Rule fit_activity: fit one network to a recording, in sample (the whole recording) or held
out (the first frames, forecasting the last ones), and score it against baselines."""

from neurocircuit.runtime import rule_job, script_job
from neurocircuit.workflow.fit import fit_run, fit_split

job = script_job(globals().get("snakemake"))
with rule_job(job, allocator=True) as logger:
    fit_split(
        job.params.split,
        job.input.activity,
        dict(job.output.items()),
        fit_run(job.params),
        logger,
        truth_path=job.input.get("truth"),
    )
