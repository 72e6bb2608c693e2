"""Rule imaging_example_nwb: the synthetic volume of one seed as a raw NWB recording."""

from neurocircuit.imaging.nwb_example import write_example_nwb
from neurocircuit.runtime import rule_job

with rule_job(snakemake, torch=False) as logger:
    write_example_nwb(
        snakemake.output.nwb,
        params=snakemake.params.synthetic,
        seed=int(snakemake.wildcards.seed),
        logger=logger,
    )
