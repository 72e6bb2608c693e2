"""The settings of one fit, resolved from the ``fit`` config section when the DAG is built.

One layering rule, the same as classification's (neurocircuit.config.layer_settings):
``defaults`` (the run keys), then ``dataset_settings[dataset]``, then ``model_settings[model]``,
then ``model_settings[model].dataset_settings[dataset]`` (each a partial copy of the run keys,
deep-merged). Run keys written at the top of the fit section (its layout until 2026-12) are
read over ``defaults``, with a deprecation warning. A fit job's params hold exactly the result, so a
change to one model's settings reruns that model's jobs and nothing else. The training keys
are those of the run's method: ``training.force`` only in FORCE runs, which read nothing of
the gradient methods' keys (:func:`method_training`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from neurocircuit.config import layer_settings, upgrade_section
from neurocircuit.fit.recording import Preprocessing, describe_preprocessing
from neurocircuit.models.names import WINDOWS, ModelSpec, parse_model_name

RUN_KEYS = (
    "preprocessing",
    "network",
    "training",
    "heldout_fraction",
    "validation_fraction",
    "ar1_ridge",
    "max_neurons",
    "max_frames",
)
"""The keys of one run's settings (``fit.defaults``)."""

ZEBRAFISH = "zebrafish"
FORCE_LOOP_KEYS = ("stop_pvar", "eval_every", "patience", "checkpoint_every", "progress")
"""The training keys a FORCE run reads besides ``force``: the loop's stopping, scoring and
checkpoints (its passes are ``force.passes``; learning rates, clipping and the like do not
apply)."""


def method_training(training: dict, model: str) -> dict:
    """The training settings a run of ``model`` reads: for FORCE (``*_force``) ``force`` and
    :data:`FORCE_LOOP_KEYS`, for the gradient methods everything but ``force`` (and but
    ``windows`` unless the model trains on windows). So a change to the FORCE settings reruns
    only FORCE runs, a change of learning rate none of them, and a change of the windows'
    settings only ``_windows`` runs."""
    spec = parse_model_name(model)
    if spec.method == "force":
        kept = ("force", *FORCE_LOOP_KEYS)
        return {key: value for key, value in training.items() if key in kept}
    dropped = ("force",) if spec.objective == WINDOWS else ("force", "windows")
    return {key: value for key, value in training.items() if key not in dropped}


def resolve_fit_settings(section: dict, dataset: str, model: str | None = None) -> dict:
    """One run's settings from the fit ``section`` of the config: ``defaults``, then
    ``dataset_settings[dataset]``, then ``model_settings[model]`` and its
    ``dataset_settings[dataset]`` (deep merge; the model layers skipped when ``model`` is
    None), keeping the training keys of the model's method (:func:`method_training`), plus the
    frame period of a ``.npy`` recording (s; the zebrafish file does not store it; imaging
    sessions' activity.h5 files do)."""
    settings = layer_settings(upgrade_section("fit", section, RUN_KEYS), dataset, model)
    if model is not None:
        settings["training"] = method_training(settings["training"], model)
    settings["frame_period_s"] = (
        section["zebrafish"]["frame_period_s"] if dataset == ZEBRAFISH else None
    )
    return settings


def recording_settings(settings: dict) -> dict:
    """What reading a recording needs (the check job's params): frame period and crop."""
    return {key: settings[key] for key in ("frame_period_s", "max_neurons", "max_frames")}


SPLIT_KEYS = ("preprocessing", "heldout_fraction", "validation_fraction", "ar1_ridge")


def split_settings(settings: dict) -> dict:
    """What a forecast job reads of a run's settings: how the held-out fit read, split and
    preprocessed the recording, and its AR(1) ridge (no network or training settings, so
    forecasts follow the held-out model file and never refit)."""
    return {key: settings[key] for key in SPLIT_KEYS} | recording_settings(settings)


@dataclass(frozen=True)
class FitSettings:
    """One fit run's resolved hyperparameters (:func:`resolve_fit_settings`), typed: how the
    recording is read, split and preprocessed, the network's options and the training's."""

    preprocessing: Preprocessing
    network: dict
    training: dict
    heldout_fraction: float = 0.2
    validation_fraction: float = 0.125
    ar1_ridge: float | None = None
    frame_period_s: float | None = None
    max_neurons: int | None = None
    max_frames: int | None = None

    @classmethod
    def from_dict(cls, settings: dict) -> FitSettings:
        """From the resolved settings dict (:func:`resolve_fit_settings`)."""
        settings = dict(settings)
        return cls(preprocessing=Preprocessing(**settings.pop("preprocessing")), **settings)

    def recording(self) -> dict:
        """What reading the recording needs (:func:`recording_settings`)."""
        return {key: getattr(self, key) for key in ("frame_period_s", "max_neurons", "max_frames")}


@dataclass(frozen=True)
class FitRun:
    """One fit job, read once: the run's labels, its model's spec (parsed here and nowhere else
    in the job) and its resolved settings; the job's helpers take what they need of it."""

    dataset: str
    model: str
    seed: int
    spec: ModelSpec
    settings: FitSettings
    device: str = "auto"

    @classmethod
    def from_params(cls, params: dict) -> FitRun:
        """From a fit job's params: ``dataset``, ``model``, ``seed``, ``device`` and
        ``settings`` (:func:`resolve_fit_settings`)."""
        return cls(
            dataset=params["dataset"],
            model=params["model"],
            seed=int(params["seed"]),
            spec=parse_model_name(params["model"]),
            settings=FitSettings.from_dict(params["settings"]),
            device=params["device"],
        )

    def labels(self) -> dict:
        """The run's labels as every output file states them (scores, prediction, model)."""
        spec = self.spec
        return {
            "dataset": self.dataset,
            "model": self.model,
            "seed": self.seed,
            "dynamics": spec.dynamics,
            "dale": spec.dale,
            "dale_mode": spec.dale_mode if spec.dale else None,
            "method": spec.method,
            "objective": spec.objective,
        }

    def provenance(self) -> dict:
        """The run as scores.json records it (``settings``): labels, settings, device."""
        settings = asdict(self.settings)
        settings["preprocessing"] = describe_preprocessing(self.settings.preprocessing)
        labels = {"dataset": self.dataset, "model": self.model, "seed": self.seed}
        return {**labels, **settings, "device": self.device}
