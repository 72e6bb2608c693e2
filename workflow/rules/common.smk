import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from neurocircuit.config import ConfigError, validate_config  # noqa: E402

try:
    config.update(
        validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
    )
except ConfigError as error:
    sys.exit(f"Config error: {error}")


wildcard_constraints:
    session=r"[A-Za-z0-9_\-]+",
    dataset=r"[A-Za-z0-9_\-]+",
    model=r"[A-Za-z0-9_\-]+",
    seed=r"\d+",


# ---------------------------------------------------------------- targets
def all_targets():
    """Every final output of the configured study."""
    return imaging_targets() + classification_targets() + fit_targets() + figure_targets()


# Each stage file section below is owned by that stage; keep helpers here, not in rules.
# ---------------------------------------------------------------- imaging
def imaging_targets():
    return []


# ---------------------------------------------------------------- classification
def classification_targets():
    return []


# ---------------------------------------------------------------- fit and ablation
def fit_targets():
    return []


# ---------------------------------------------------------------- figures
def figure_targets():
    return []
