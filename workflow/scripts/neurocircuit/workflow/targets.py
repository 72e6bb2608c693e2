"""The runs of every stage and the final outputs of the configured study (``rule all``)."""

from __future__ import annotations

import itertools

from neurocircuit.imaging.sessions import session_table

RUN_FOLDER = {
    "classification": "results/classification/{dataset}/{model}/seed{seed}",
    "fit": "results/fit/{dataset}/{model}/seed{seed}",
}
ABLATION_TABLE = "results/ablation/{dataset}/{model}/seed{seed}.csv"
TEACHER_FORECAST = "results/fit/{dataset}/teacher/forecast.csv"
RESILIENCE_TABLES = {
    "curves": "results/resilience/{dataset}/{model}/seed{seed}.csv",
    "areas": "results/resilience/{dataset}/{model}/seed{seed}_areas.csv",
}
RESILIENCE_SUMMARY = "results/resilience/summary.csv"


def expand(pattern: str, **values: list) -> list[str]:
    """``pattern`` formatted with every combination of ``values`` (Snakemake's ``expand``:
    the product, the first keyword varying slowest)."""
    names = list(values)
    return [
        pattern.format(**dict(zip(names, combination, strict=True)))
        for combination in itertools.product(*(values[name] for name in names))
    ]


def stage_runs(config: dict, stage: str, dataset=None, seed=None) -> list[dict]:
    """Every configured run of ``stage`` ("classification" or "fit") as a dict of its
    wildcards (dataset, model, seed), optionally only one data set's or one seed's."""
    section = config[stage]
    return [
        {"dataset": d, "model": m, "seed": s}
        for d in section["datasets"]
        if dataset in (None, d)
        for m in section["models"]
        for s in section["seeds"]
        if seed in (None, s)
    ]


def run_files(config: dict, stage: str, name: str, dataset=None, seed=None) -> list[str]:
    """File ``name`` (metrics.json, history.csv, ...) of each run :func:`stage_runs` lists."""
    template = f"{RUN_FOLDER[stage]}/{name}"
    return [template.format(**run) for run in stage_runs(config, stage, dataset, seed)]


def run_file(name: str, dataset: str, model: str, seed: int) -> str:
    """File ``name`` of one fit run."""
    return f"{RUN_FOLDER['fit']}/{name}".format(dataset=dataset, model=model, seed=seed)


def teacher_runs(config: dict, dataset=None) -> list[dict]:
    """The teacher of every fitted synthetic session made by one (imaging.synthetic.population
    "teacher"), as an ablation run of model "teacher" (seed 0: there is one teacher)."""
    if config["imaging"]["synthetic"].get("population") != "teacher":
        return []
    sessions = session_table(config["imaging"])
    return [
        {"dataset": d, "model": "teacher", "seed": 0}
        for d in config["fit"]["datasets"]
        if dataset in (None, d) and d in sessions and sessions[d]["source"] == "synthetic"
    ]


def ablation_runs(config: dict, dataset=None) -> list[dict]:
    """Every ablated network: each fit run, then each teacher (optionally of one data set)."""
    return stage_runs(config, "fit", dataset) + teacher_runs(config, dataset)


def ablation_tables(config: dict, dataset=None) -> list[str]:
    """The ablation table of every ablated network (optionally of one data set)."""
    return [ABLATION_TABLE.format(**run) for run in ablation_runs(config, dataset)]


def forecast_tables(config: dict, dataset=None) -> list[str]:
    """forecast.csv of every fit run, then of every teacher (optionally of one data set)."""
    teachers = [TEACHER_FORECAST.format(**run) for run in teacher_runs(config, dataset)]
    return run_files(config, "fit", "forecast.csv", dataset) + teachers


def imaging_targets(config: dict) -> list[str]:
    """activity.h5, activity.nwb, metrics.json and qc.png of every configured imaging session."""
    return expand(
        "results/imaging/{session}/{name}",
        session=list(session_table(config["imaging"])),
        name=["activity.h5", "activity.nwb", "metrics.json", "qc.png"],
    )


def classification_targets(config: dict) -> list[str]:
    """The summary table over every configured run (which needs every run's metrics)."""
    if not stage_runs(config, "classification"):
        return []
    return ["results/classification/summary.csv"]


def fit_targets(config: dict) -> list[str]:
    """Per-run metrics, the convergence and forecast tables and, when enabled, the ablation
    tables and summary."""
    if not stage_runs(config, "fit"):
        return []
    targets = run_files(config, "fit", "metrics.json") + ["results/fit/convergence.csv"]
    targets += ["results/fit/forecast_summary.csv"]
    if config["ablation"]["enabled"]:
        targets += ablation_tables(config) + ["results/ablation/summary.csv"]
    return targets


def figure_targets(config: dict) -> list[str]:
    """Every figure (PNG and PDF) of the configured study: those of each stage with targets."""
    figures = []
    if classification_targets(config):
        figures += expand(
            "results/figures/classification/{name}.{ext}",
            name=["accuracy", "learning_curves"],
            ext=["png", "pdf"],
        )
    if not fit_targets(config):
        return figures
    datasets, models = config["fit"]["datasets"], config["fit"]["models"]
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
    figures += expand("results/figures/fit/forecast.{ext}", ext=["png", "pdf"])
    if config["ablation"]["enabled"]:
        figures += expand(
            "results/figures/ablation/{dataset}/{name}.{ext}",
            dataset=datasets,
            name=["curves", "areas"],
            ext=["png", "pdf"],
        )
    return figures


def resilience_models(config: dict) -> list[str]:
    """The fitted models the resilience stage ablates: ``resilience.models`` (null: fit.models)."""
    return config["resilience"].get("models") or config["fit"]["models"]


def resilience_runs(config: dict, dataset=None) -> list[dict]:
    """Every network the resilience stage ablates: each in-sample fit of
    :func:`resilience_models` and ``resilience.seeds`` (null: fit.seeds), then each teacher
    (optionally of one data set)."""
    seeds = config["resilience"].get("seeds") or config["fit"]["seeds"]
    fit = {**config["fit"], "models": resilience_models(config), "seeds": seeds}
    return stage_runs({"fit": fit}, "fit", dataset) + teacher_runs(config, dataset)


def resilience_tables(config: dict, kind: str = "curves", dataset=None) -> list[str]:
    """The resilience ``kind`` table ("curves" or "areas") of every network the resilience
    stage ablates (:func:`resilience_runs`)."""
    return [RESILIENCE_TABLES[kind].format(**run) for run in resilience_runs(config, dataset)]


def resilience_targets(config: dict) -> list[str]:
    """The resilience stage's outputs (rule ``resilience``, whether enabled or not): every
    network's curves and areas, the summary, and each data set's figure of each measure."""
    if not stage_runs(config, "fit"):
        return []
    figures = expand(
        "results/figures/resilience/{dataset}/{measure}.{ext}",
        dataset=config["fit"]["datasets"],
        measure=[measure["name"] for measure in config["resilience"]["measures"]],
        ext=["png", "pdf"],
    )
    tables = resilience_tables(config) + resilience_tables(config, "areas")
    return tables + [RESILIENCE_SUMMARY] + figures


def all_targets(config: dict) -> list[str]:
    """Every final output of the configured study (the resilience stage's when enabled)."""
    resilience = resilience_targets(config) if config["resilience"]["enabled"] else []
    return (
        imaging_targets(config)
        + classification_targets(config)
        + fit_targets(config)
        + figure_targets(config)
        + resilience
    )
