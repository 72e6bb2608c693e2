"""The fit stage's inputs and params: each data set's recording, one run's resolved settings,
the split of the one fit rule, and what the forecast and check jobs read.

One rule fits a network per (dataset, model, seed) and split: the in-sample fit writes into
``results/fit/{dataset}/{model}/seed{seed}/``, the held-out fit into its ``heldout/`` folder. The
rule's ``split`` wildcard is the path between (``""`` or ``"/heldout"``, :data:`SPLIT_FOLDERS`).
"""

from __future__ import annotations

from pathlib import Path

from neurocircuit.config import ConfigError
from neurocircuit.fit.settings import (
    ZEBRAFISH,
    recording_settings,
    resolve_fit_settings,
    split_settings,
)
from neurocircuit.imaging.sessions import session_table
from neurocircuit.models.names import TEACHER, parse_model_name
from neurocircuit.workflow.common import canonical

SPLIT_FOLDERS = {"": "in_sample", "/heldout": "heldout"}
"""The fit rule's ``split`` wildcard (the path after ``seed{seed}``) -> the split it fits."""
SPLIT_WILDCARD = "|".join(SPLIT_FOLDERS)
"""The ``split`` wildcard's constraint: one of :data:`SPLIT_FOLDERS`' keys."""
TEACHER_MODEL = TEACHER
"""The model label of a synthetic session's teacher (its forecast job has no model wildcard)."""


def check_config(config: dict) -> None:
    """Every fitted data set is the zebrafish recording or an imaging session, and every model
    name parses (the schema has the grammar; this refuses FORCE on spiking and Dale networks)."""
    sessions = session_table(config["imaging"])
    for dataset in config["fit"]["datasets"]:
        if dataset != ZEBRAFISH and dataset not in sessions:
            raise ConfigError(
                f"fit.datasets: '{dataset}' is neither 'zebrafish' nor an imaging session "
                f"(sessions: {', '.join(sessions) or 'none'})"
            )
    for model in config["fit"]["models"]:
        try:
            parse_model_name(model)
        except ValueError as error:
            raise ConfigError(f"fit.models: {error}") from None


def zebrafish_download_path(config: dict) -> str:
    """Output of the zebrafish download job: resources_dir/zebrafish/<file>."""
    filename = config["fit"]["zebrafish"]["filename"]
    return str(Path(config["resources_dir"]) / "zebrafish" / filename)


def activity_input(config: dict, wildcards) -> str:
    """The activity file of a data set: the zebrafish recording (data_dir/zebrafish/ when it is
    there, else the download) or an imaging session's activity.h5."""
    if wildcards.dataset == ZEBRAFISH:
        if config["data_dir"]:
            filename = config["fit"]["zebrafish"]["filename"]
            local = Path(config["data_dir"]) / "zebrafish" / filename
            if local.is_file():
                return str(local)
        return zebrafish_download_path(config)
    return f"results/imaging/{wildcards.dataset}/activity.h5"


def truth_input(config: dict, wildcards) -> dict:
    """{"truth": the ground truth} of a synthetic session (scores against its circuit), else {}."""
    session = session_table(config["imaging"]).get(wildcards.dataset)
    if session is None or session["source"] != "synthetic":
        return {}
    return {"truth": f"results/imaging/{wildcards.dataset}/raw/ground_truth.h5"}


def split_name(wildcards) -> str:
    """The split a fit job fits: "in_sample" or "heldout" (from its ``split`` wildcard)."""
    return SPLIT_FOLDERS[wildcards.split]


def fit_settings(config: dict, wildcards) -> dict:
    """The run's resolved settings (defaults < dataset_settings < model_settings), so that
    changing one model's settings, or adding a seed, reruns no other job."""
    return canonical(resolve_fit_settings(config["fit"], wildcards.dataset, wildcards.model))


def recording_params(config: dict, wildcards) -> dict:
    """How a data set's recording is read (the check job, the teacher's ablation): its frame
    period and crop."""
    return canonical(recording_settings(resolve_fit_settings(config["fit"], wildcards.dataset)))


def preprocessing_params(config: dict, wildcards) -> dict:
    """The data set's preprocessing preset (what the teacher's ablation scores against)."""
    return canonical(resolve_fit_settings(config["fit"], wildcards.dataset)["preprocessing"])


def run_seed(wildcards) -> int:
    """The run's seed (an int, as the jobs read it)."""
    return int(wildcards.seed)


def forecast_split(config: dict, wildcards) -> dict:
    """How the held-out fit split and preprocessed the recording (no network or training
    settings: the held-out model file stands for them); the teacher's job reads the data
    set's split."""
    model = getattr(wildcards, "model", None)
    return canonical(split_settings(resolve_fit_settings(config["fit"], wildcards.dataset, model)))


def forecast_settings(config: dict) -> dict:
    """The windowed forecasts' settings (fit.forecast), keys sorted."""
    return canonical(config["fit"]["forecast"])


def fit_run(params) -> dict:
    """What :func:`neurocircuit.fit.jobs.fit_job` reads as ``run``, from a fit job's params."""
    return {
        "dataset": params.dataset,
        "model": params.model,
        "seed": int(params.seed),
        "device": params.device,
        "settings": params.fit_settings,
    }


def forecast_run(params) -> dict:
    """What the forecast jobs (:mod:`neurocircuit.fit.forecast`) read as ``run``."""
    return {
        "dataset": params.dataset,
        "model": params.model,
        "seed": int(params.seed),
        "split": params.split_settings,
        "forecast": params.forecast_settings,
    }
