"""The ablation stage's params: what an ablation job reads of the ``ablation`` section."""

from __future__ import annotations

from neurocircuit.workflow.targets import ablation_runs

ABLATION_KEYS = ("fractions", "strategies", "random_repeats", "seed")


def ablation_settings(config: dict) -> dict:
    """What an ablation job reads of the ablation section (not ``enabled``)."""
    return {key: config["ablation"][key] for key in ABLATION_KEYS}


def summary_runs(config: dict) -> list[dict]:
    """The (dataset, model, seed) of every ablation table the summary reads, in its order."""
    return ablation_runs(config)
