# neurocircuit: raw volumetric calcium imaging -> ΔF/F -> biologically constrained recurrent
# networks (spiking and rate, Dale's law, BPTT and e-prop) -> classification benchmarks, fits of
# recorded activity, ablation resilience, and the study's figures.
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# The library imports without installation, here as in the rule scripts (their own folder).
sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/imaging.smk"
include: "workflow/rules/classification.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/ablation.smk"
include: "workflow/rules/resilience.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        targets.all_targets(config),
