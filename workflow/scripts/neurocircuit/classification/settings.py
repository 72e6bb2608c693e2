"""The settings of one classification run, layered from the config, and the config's
cross-checks. No torch here: the workflow calls these at parse time."""

from __future__ import annotations

from collections.abc import Mapping

from neurocircuit.config import layer_settings, upgrade_section

DATASET_NAMES = ("digits", "mnist", "fashion_mnist", "shd")

MODEL_KEYS = (
    "neuron",
    "recurrent",
    "dale",
    "dale_mode",
    "exc_fraction",
    "ei_balance",
    "dt_ms",
    "tau_mem_ms",
    "tau_syn_ms",
    "tau_out_ms",
    "tau_adapt_ms",
    "reset",
    "surrogate",
    "surrogate_scale",
    "discretisation",
    "backend",
    "input_scale",
    "recurrent_scale",
    "readout_scale",
)
"""Run settings passed to ``SpikingClassifier`` (besides the layer sizes and the seed)."""

TRAIN_KEYS = (
    "epochs",
    "lr",
    "weight_decay",
    "method",
    "tbptt_window",
    "grad_clip",
    "lr_schedule",
    "lr_min_fraction",
    "patience",
    "eprop_feedback",
)
"""Run settings passed to ``TrainConfig``."""


def resolve_run_settings(classification: Mapping, dataset: str, model: str) -> dict:
    """The settings of one run: ``defaults``, then ``dataset_settings[dataset]``, then
    ``model_settings[model]``, then ``model_settings[model]["dataset_settings"][dataset]``
    (neurocircuit.config.layer_settings, the layering of every stage).

    ``classification`` is the validated ``classification`` config section (defaults filled);
    an old ``model_definitions`` is read as model_settings, with a deprecation warning.
    """
    classification = upgrade_section("classification", classification)
    definitions = classification.get("model_settings") or {}
    if model not in definitions:
        known = ", ".join(sorted(definitions)) or "none"
        raise ValueError(f"classification model '{model}' is not defined (defined: {known})")
    if dataset not in DATASET_NAMES:
        raise ValueError(
            f"unknown classification data set '{dataset}' (known: {', '.join(DATASET_NAMES)})"
        )
    return layer_settings(classification, dataset, model)


def check_run_settings(settings: Mapping) -> None:
    """Cross-checks of one run's resolved settings (the classifier would refuse them later):
    Dale's law needs recurrence; the "spytorch" discretisation needs the lif_syn neuron and a
    learning rule other than e-prop. A ValueError naming the settings."""
    if settings.get("dale") and not settings.get("recurrent"):
        raise ValueError(
            "dale: true needs recurrent: true (Dale's law signs the hidden neurons' recurrent "
            "weights; the input stays excitatory and the readout free)"
        )
    if settings.get("discretisation", "default") == "spytorch":
        if settings.get("neuron", "lif_syn") != "lif_syn":
            raise ValueError(
                f"discretisation: spytorch needs neuron: lif_syn, got {settings['neuron']}"
            )
        if settings.get("method") == "eprop":
            raise ValueError("discretisation: spytorch cannot be trained by e-prop (bptt, tbptt)")


def check_classification_config(classification: Mapping) -> None:
    """Cross-checks the schema cannot express: every listed model is defined, and the resolved
    settings of every listed (dataset, model) pass ``check_run_settings``. One-line error."""
    classification = upgrade_section("classification", classification)
    definitions = classification.get("model_settings") or {}
    undefined = [m for m in classification.get("models") or [] if m not in definitions]
    if undefined:
        known = ", ".join(sorted(definitions)) or "none"
        raise ValueError(
            f"classification.models lists {', '.join(undefined)}, not defined in "
            f"classification.model_settings (defined: {known})"
        )
    for dataset in classification.get("datasets") or []:
        for model in classification.get("models") or []:
            try:
                check_run_settings(resolve_run_settings(classification, dataset, model))
            except ValueError as error:
                raise ValueError(f"classification model '{model}' on {dataset}: {error}") from None
