# What every stage file shares: the validated config, the wildcards' constraints, and the stage
# logic of neurocircuit.workflow (plain, unit-tested functions of the config and the wildcards;
# from_config binds them for rules). Stage files hold rules only.
import sys
from pathlib import Path

from neurocircuit.config import ConfigError, validate_config
from neurocircuit.workflow import ablation, classification, figures, fit, imaging, targets
from neurocircuit.workflow import resources as training_resources
from neurocircuit.workflow.checks import check_workflow_config, data_dir_warning
from neurocircuit.workflow.common import bind_config

try:
    config.update(
        validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
    )
    if warning := data_dir_warning(config):
        print(warning, file=sys.stderr)
    check_workflow_config(config)
except ConfigError as error:
    sys.exit(f"Config error: {error}")


wildcard_constraints:
    session=r"[A-Za-z0-9_\-]+",
    dataset=r"[A-Za-z0-9_\-]+",
    model=r"[A-Za-z0-9_\-]+",
    seed=r"\d+",


# Under a cluster executor (profiles/slurm) these light rules run on the submitting machine, not
# as cluster jobs: plots. Each stage file declares its own downloads and summaries likewise.
localrules:
    imaging_qc_figure,
    plot_classification_accuracy,
    plot_classification_learning_curves,
    plot_fit_activity,
    plot_pvar_per_neuron,
    plot_connectivity,
    plot_convergence,
    plot_forecast,
    plot_ablation_curves,
    plot_ablation_areas,


def from_config(function, **options):
    """A rule's input or params function of the wildcards: ``function(config, wildcards,
    **options)`` of neurocircuit.workflow, bound to this run's config."""
    return bind_config(function, config, **options)
