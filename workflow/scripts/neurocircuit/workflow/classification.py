"""The classification stage's inputs and params: each data set's files (a local copy or the
download), one training run's settings, and the download rule's patterns."""

from __future__ import annotations

from pathlib import Path

from neurocircuit.classification import check_classification_config, resolve_run_settings
from neurocircuit.config import ConfigError
from neurocircuit.data.registry import DATASETS, describe_missing, download_paths, locate_files
from neurocircuit.workflow.common import canonical

TRAIN_RUNTIME_MIN = {"digits": 30, "mnist": 360, "fashion_mnist": 360}
"""SLURM runtime (minutes) of one training job per data set; others (SHD) get a day."""


def check_config(config: dict) -> None:
    """The classification section's cross-checks, as a one-line ConfigError."""
    try:
        check_classification_config(config["classification"])
    except ValueError as error:
        raise ConfigError(str(error)) from None


def data_files(config: dict, wildcards) -> dict:
    """Named input files of a data set: an existing copy (data_dir, Debian's folder) or the
    download rule's outputs in resources_dir; {} for digits (inside scikit-learn). With
    downloads off and no copy, a ConfigError names the files and where to put them."""
    spec = DATASETS[wildcards.dataset]
    found = locate_files(spec, config["data_dir"])
    if found is not None:
        return {role: str(path) for role, path in found.items()}
    if not config["classification"]["download"]:
        raise ConfigError(
            describe_missing(spec, config["data_dir"], config["resources_dir"])
            + " (classification.download is false)"
        )
    downloads = download_paths(spec, config["resources_dir"])
    return {role: str(path) for role, path in downloads.items()}


def run_settings(config: dict, wildcards) -> dict:
    """The training run's resolved settings (defaults < data set < model), keys sorted."""
    section = config["classification"]
    return canonical(resolve_run_settings(section, wildcards.dataset, wildcards.model))


def download_pattern(config: dict) -> str:
    """Output pattern of the data download job: resources_dir/{dataset}/{filename}."""
    return str(Path(config["resources_dir"]) / "{dataset}" / "{filename}")


def download_names() -> str:
    """Regex of the published file names the download rule may produce."""
    names = [f.name for spec in DATASETS.values() for f in spec.files]
    return "|".join(name.replace(".", r"\.") for name in names)


def train_runtime(wildcards) -> int:
    """SLURM runtime (minutes) of one training job: SHD's 200 epochs take longest."""
    return TRAIN_RUNTIME_MIN.get(wildcards.dataset, 1440)
