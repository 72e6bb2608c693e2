"""The resilience stage's params: what each resilience job reads of the ``resilience`` section
(docs/ablation.md#resilience-the-papers-protocol), and the config's cross-checks that the
schema cannot express (the primary contrasts name known levels, each side is one model)."""

from __future__ import annotations

import numpy as np

from neurocircuit.config import ConfigError
from neurocircuit.workflow.common import canonical
from neurocircuit.workflow.targets import resilience_models, resilience_tables

LEVEL_DECIMALS = 10
"""Fractions removed are np.linspace(0, 1, levels) rounded to this many decimals (exact in
the params, so the same grid never reruns a job)."""


def removal_levels(config: dict) -> list[float]:
    """The fractions removed: ``resilience.levels`` points from 0 to 1."""
    count = config["resilience"]["levels"]
    return [round(float(x), LEVEL_DECIMALS) for x in np.linspace(0.0, 1.0, count)]


def curve_controls(config: dict) -> list[str]:
    """The controls the curves are rolled out under: "none" (the intact pVar, the filter and
    the paper's measure read it), then every other control a measure names."""
    controls = ["none"]
    for measure in config["resilience"]["measures"]:
        if measure["control"] not in controls:
            controls.append(measure["control"])
    return controls


def curve_settings(config: dict) -> dict:
    """What a curves job (fitted network or teacher) reads: strategies, levels, repeats, seed
    and controls, as ``neurocircuit.ablation.resilience.fitted_resilience_curves`` takes them."""
    section = config["resilience"]
    return {
        "strategies": list(section["strategies"]),
        "levels": removal_levels(config),
        "repeats": section["random_repeats"],
        "seed": section["seed"],
        "controls": curve_controls(config),
    }


def filter_threshold(config: dict) -> float | None:
    """The intact-pVar threshold below which a network is dropped (None: none dropped)."""
    value = config["resilience"]["filter_pvar"]
    return None if value is None else float(value)


def check_contrasts(config: dict) -> None:
    """The primary contrasts and measures parse (known factors and levels, unique names), and
    each side of a contrast selects at most one of ``fit.models`` (models are never pooled):
    a one-line ConfigError otherwise, before any job runs."""
    from neurocircuit.ablation.resilience_stats import measures_from_config, primary_contrasts
    from neurocircuit.models.names import model_spec

    section = config["resilience"]
    try:
        contrasts = primary_contrasts(section["primary_contrasts"])
        measures_from_config(section["measures"], "config resilience.measures")
    except ValueError as error:
        raise ConfigError(str(error)) from None
    names = [measure["name"] for measure in section["measures"]]
    if len(set(names)) < len(names):
        raise ConfigError(f"resilience.measures: a name is used twice ({', '.join(names)})")
    outside = [s for s in section["primary_strategies"] if s not in section["strategies"]]
    if outside:
        raise ConfigError(
            f"resilience.primary_strategies: {outside[0]} is not in resilience.strategies "
            f"({', '.join(section['strategies'])})"
        )
    models = resilience_models(config)
    unknown = [m for m in models if m not in config["fit"]["models"]]
    if unknown:
        raise ConfigError(f"resilience.models: {unknown[0]} is not one of fit.models")
    factors = {model: model_spec(model).factors() for model in models}
    for contrast in contrasts:
        for level in (contrast.a, contrast.b):
            chosen = sorted(m for m, f in factors.items() if contrast.selects(f, level))
            if len(chosen) > 1:
                raise ConfigError(
                    f"resilience.primary_contrasts: {contrast.name} pools models "
                    f"{', '.join(chosen)} in group {level}: fix the other factors in 'fixed'"
                )


def summary_settings(config: dict, wildcards=None) -> dict:
    """What the summary job reads: the primary contrasts, the measures, the strategies of the
    primary family and the intact-pVar threshold (checked first: :func:`check_contrasts`)."""
    check_contrasts(config)
    section = config["resilience"]
    return canonical(
        {
            "primary_contrasts": section["primary_contrasts"],
            "measures": section["measures"],
            "strategies": list(section["primary_strategies"]),
            "filter_pvar": filter_threshold(config),
        }
    )


def figure_measure(config: dict, wildcards) -> dict:
    """The measure (name, control, score) that a figure job draws, named by its ``measure``
    wildcard."""
    for measure in config["resilience"]["measures"]:
        if measure["name"] == wildcards.measure:
            return canonical(dict(measure))
    names = ", ".join(m["name"] for m in config["resilience"]["measures"])
    raise ConfigError(f"resilience: no measure named '{wildcards.measure}' (measures: {names})")


def figure_settings(config: dict) -> dict:
    """What a figure job reads besides its measure: the strategies drawn (one row each) and
    the intact-pVar threshold of the networks drawn."""
    return {
        "strategies": list(config["resilience"]["strategies"]),
        "filter_pvar": filter_threshold(config),
    }


def dataset_tables(config: dict, wildcards, kind: str) -> list[str]:
    """The ``kind`` tables ("curves" or "areas") of every network of the figure's data set."""
    return resilience_tables(config, kind, wildcards.dataset)


def run_labels(wildcards) -> dict:
    """The labels of a curves job's tables: its dataset, model and seed (an int)."""
    return {"dataset": wildcards.dataset, "model": wildcards.model, "seed": int(wildcards.seed)}


def teacher_labels(wildcards) -> dict:
    """The labels of a teacher's tables: its data set, model "teacher", seed 0."""
    return {"dataset": wildcards.dataset, "model": "teacher", "seed": 0}
