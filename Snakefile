# neurocircuit: raw volumetric calcium imaging -> ΔF/F -> biologically constrained recurrent
# networks (spiking and rate, Dale's law, BPTT and e-prop) -> classification benchmarks, fits of
# recorded activity, ablation resilience, and the study's figures.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/imaging.smk"
include: "workflow/rules/classification.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/ablation.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        all_targets(),
