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
def _figure_runs(stage):
    """(datasets, models, seeds) configured for ``stage`` ("classification" or "fit")."""
    section = config.get(stage) or {}
    return (
        list(section.get("datasets") or []),
        list(section.get("models") or []),
        list(section.get("seeds") or []),
    )


def figure_example_seed():
    """The seed whose fit the one-run figures (activity, connectivity) show: the lowest."""
    seeds = _figure_runs("fit")[2]
    return min(seeds) if seeds else 0


def figure_classification_histories():
    """history.csv of every configured classification run."""
    datasets, models, seeds = _figure_runs("classification")
    return expand(
        "results/classification/{dataset}/{model}/seed{seed}/history.csv",
        dataset=datasets,
        model=models,
        seed=seeds,
    )


def figure_fit_run_files(name):
    """Input function: ``name`` of every configured fit run (all models, all seeds) of a dataset."""

    def files(wildcards):
        _, models, seeds = _figure_runs("fit")
        return expand(
            "results/fit/{dataset}/{model}/seed{seed}/{name}",
            dataset=wildcards.dataset,
            model=models,
            seed=seeds,
            name=name,
        )

    return files


def figure_example_runs_file(name):
    """Input function: ``name`` of every model's fit at the example seed, for a dataset."""

    def files(wildcards):
        return expand(
            "results/fit/{dataset}/{model}/seed{seed}/{name}",
            dataset=wildcards.dataset,
            model=_figure_runs("fit")[1],
            seed=figure_example_seed(),
            name=name,
        )

    return files


def figure_example_run_file(name):
    """Input function: ``name`` of one model's fit at the example seed."""

    def file(wildcards):
        return expand(
            "results/fit/{dataset}/{model}/seed{seed}/{name}",
            dataset=wildcards.dataset,
            model=wildcards.model,
            seed=figure_example_seed(),
            name=name,
        )

    return file


def figure_activity_title(wildcards):
    return f"{wildcards.model} on {wildcards.dataset} (seed {figure_example_seed()})"


def figure_ablation_curve_files():
    """Input function: every ablation curve table of a dataset (all models, all seeds)."""

    def files(wildcards):
        _, models, seeds = _figure_runs("fit")
        return expand(
            "results/ablation/{dataset}/{model}/seed{seed}.csv",
            dataset=wildcards.dataset,
            model=models,
            seed=seeds,
        )

    return files


def figure_targets():
    """Every figure (PNG and PDF) of the configured study."""
    figures = []
    datasets, models, seeds = _figure_runs("classification")
    if datasets and models and seeds:
        figures += expand(
            "results/figures/classification/{name}.{ext}",
            name=["accuracy", "learning_curves"],
            ext=["png", "pdf"],
        )
    datasets, models, seeds = _figure_runs("fit")
    if datasets and models and seeds:
        figures += expand(
            "results/figures/fit/{dataset}/activity_{model}.{ext}",
            dataset=datasets,
            model=models,
            ext=["png", "pdf"],
        )
        figures += expand(
            "results/figures/fit/{dataset}/{name}.{ext}",
            dataset=datasets,
            name=["pvar_per_neuron", "connectivity", "convergence"],
            ext=["png", "pdf"],
        )
        figures += expand(
            "results/figures/ablation/{dataset}/{name}.{ext}",
            dataset=datasets,
            name=["curves", "areas"],
            ext=["png", "pdf"],
        )
    return figures
