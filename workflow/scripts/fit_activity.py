"""Rule fit_activity: fit one network to a recording, in sample (the whole recording) or held
out (the first frames, forecasting the last ones), and score it against baselines."""

from neurocircuit.fit.jobs import fit_job
from neurocircuit.runtime import rule_job, script_job
from neurocircuit.workflow.fit import fit_run

job = script_job(globals().get("snakemake"))
with rule_job(job, allocator=True) as logger:
    fit_job(
        job.params.split,
        job.input.activity,
        dict(job.output.items()),
        fit_run(job.params),
        logger,
        truth_path=job.input.get("truth"),
    )
