"""The cross-checks of a validated config that its schema cannot express, and its warnings."""

from __future__ import annotations

from pathlib import Path

from neurocircuit.workflow import classification, fit, imaging


def check_workflow_config(config: dict) -> None:
    """Every stage's cross-checks (session names, classification models and settings, fitted
    data sets and model names); the first that fails raises a one-line ConfigError."""
    imaging.check_imaging_config(config)
    classification.check_config(config)
    fit.check_config(config)


def data_dir_warning(config: dict) -> str | None:
    """A warning when data_dir is set but is not a folder (not an error: the data sets it
    should hold may be found elsewhere or downloaded); None otherwise."""
    if not config["data_dir"] or Path(config["data_dir"]).is_dir():
        return None
    return (
        f"Warning: data_dir '{config['data_dir']}' is not a folder; data sets not found in "
        f"the system folders are downloaded into resources_dir ('{config['resources_dir']}')"
    )
