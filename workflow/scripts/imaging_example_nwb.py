"""Rule imaging_example_nwb: the synthetic volume of one seed as a raw NWB recording."""

from neurocircuit.imaging.nwb_example import write_example_nwb
from neurocircuit.runtime import rule_job, script_job

job = script_job(globals().get("snakemake"))
with rule_job(job, torch=False) as logger:
    write_example_nwb(
        job.output.nwb,
        params=job.params.synthetic_settings,
        seed=int(job.wildcards.seed),
        logger=logger,
    )
