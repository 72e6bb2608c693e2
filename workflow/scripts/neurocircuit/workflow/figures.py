"""The figures stage's inputs and params: which runs each figure shows."""

from __future__ import annotations

from neurocircuit.workflow.targets import ablation_tables, run_file, run_files


def example_seed(config: dict) -> int:
    """The seed whose fit the one-run figures (activity, connectivity) show: the lowest."""
    seeds = config["fit"]["seeds"]
    return min(seeds) if seeds else 0


def fit_run_files(config: dict, wildcards, name: str) -> list[str]:
    """``name`` of every configured fit run (all models, all seeds) of the data set."""
    return run_files(config, "fit", name, wildcards.dataset)


def example_runs_files(config: dict, wildcards, name: str) -> list[str]:
    """``name`` of every model's fit at the example seed, for the data set."""
    return run_files(config, "fit", name, wildcards.dataset, example_seed(config))


def example_run_file(config: dict, wildcards, name: str) -> str:
    """``name`` of one model's fit at the example seed."""
    return run_file(name, wildcards.dataset, wildcards.model, example_seed(config))


def ablation_curve_files(config: dict, wildcards) -> list[str]:
    """Every ablation curve table of the data set (all models, all seeds)."""
    return ablation_tables(config, wildcards.dataset)
