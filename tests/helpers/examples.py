"""Small synthetic result files in the exact formats the stages write, for the tests of the figures
(tests/unit/test_figures.py) and of the report (tests/workflow/test_report.py). Numbers are
plausible, not real: never cite them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from neurocircuit.models.names import parse_model_name
from neurocircuit.runtime import write_json

FIT_MODELS = (
    "spiking_nodale_eprop",
    "spiking_dale_eprop",
    "rate_nodale_bptt",
    "rate_dale_bptt_windows",
    "rate_dale_bptt",
)
CLASSIFICATION_MODELS = ("lif", "lif_dale")
STRATEGIES = ("random", "weakest", "strongest", "hubs")


def write_classification_results(
    root: Path,
    datasets: Sequence[str] = ("digits", "fashion_mnist", "shd"),
    models: Sequence[str] = CLASSIFICATION_MODELS,
    seeds: Sequence[int] = (0, 1),
    epochs: int = 5,
) -> None:
    """Per-run metrics.json + history.csv under ``root/classification/{dataset}/{model}/seed{seed}``
    and ``root/classification/summary.csv``, the latter written by the classification stage's own
    summarize_classification (so the figures read exactly what the stage writes)."""
    from neurocircuit.classification import summarize_classification

    rng = np.random.default_rng(1)
    metrics_paths = []
    for dataset in datasets:
        for model in models:
            for seed in seeds:
                run = root / "classification" / dataset / model / f"seed{seed}"
                run.mkdir(parents=True, exist_ok=True)
                curve = 0.9 - 0.5 * np.exp(-np.arange(1, epochs + 1) / 1.5)
                history = pd.DataFrame(
                    {
                        "epoch": np.arange(1, epochs + 1),
                        "train_loss": 1.0 - curve,
                        "train_accuracy": curve + rng.normal(0, 0.005, epochs),
                        "val_accuracy": curve - 0.02 + rng.normal(0, 0.005, epochs),
                    }
                )
                history.to_csv(run / "history.csv", index=False)
                final = float(history["val_accuracy"].iloc[-1])
                metrics = {
                    "dataset": dataset,
                    "model": model,
                    "seed": seed,
                    "test_accuracy": final,
                    "val_accuracy": final,
                    "train_accuracy": float(history["train_accuracy"].iloc[-1]),
                    "epochs": epochs,
                    "wall_time_s": 1.0,
                    "device": "cpu",
                }
                write_json(metrics, run / "metrics.json")
                metrics_paths.append(run / "metrics.json")
    summarize_classification(metrics_paths, root / "classification" / "summary.csv")


def write_forecast_table(path: Path, dataset: str, model: str, seed: int, level: float,
                         horizon: int = 16) -> None:  # fmt: skip
    """A forecast.csv (neurocircuit.fit.forecast_scores.table_columns): MAE growing with the
    step from ``level``, the same baselines in every run, differences to the linear model with
    an interval of ± 0.01."""
    steps = np.arange(1, horizon + 1)
    table = {"dataset": dataset, "model": model, "seed": seed, "step": steps,
             "time_s": steps * 0.1, "n_windows": 40, "bootstrap_block": horizon}  # fmt: skip
    linear = 0.03 + (0.25 - 0.03) * (1 - np.exp(-steps / 8))
    for suffix, start in (("", level), ("_context_mean", 0.2), ("_last_frame", 0.02),
                          ("_start_state", 0.018), ("_linear", 0.03), ("_ar1", 0.04)):  # fmt: skip
        mae = start + (0.25 - start) * (1 - np.exp(-steps / 8))
        table[f"mae{suffix}"] = mae
        table[f"pvar{suffix}"] = 1 - (mae / 0.2) ** 2
        table[f"pvar_per_neuron_median{suffix}"] = table[f"pvar{suffix}"] - 0.1
        table[f"mae_smoothed{suffix}"] = 0.9 * mae
        table[f"pvar_smoothed{suffix}"] = 1 - (0.9 * mae / 0.2) ** 2
        if suffix == "_linear":
            continue
        for part, diff in (("", mae - linear), ("_cummean", np.cumsum(mae - linear) / steps)):
            table[f"mae_diff_vs_linear{part}{suffix}"] = diff
            table[f"mae_diff_vs_linear{part}_low{suffix}"] = diff - 0.01
            table[f"mae_diff_vs_linear{part}_high{suffix}"] = diff + 0.01
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(table).to_csv(path, index=False)


def write_fit_results(
    root: Path,
    dataset: str = "synthetic",
    models: Sequence[str] = FIT_MODELS,
    seeds: Sequence[int] = (0, 1),
    n_neurons: int = 24,
    n_time: int = 120,
    fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    teacher: bool = False,
) -> None:
    """Per-run fit outputs under ``root/fit/{dataset}/{model}/seed{seed}/`` (metrics.json,
    pvar_per_neuron.csv, prediction.h5, weights.npz, history.csv), per-run ablation curves
    ``root/ablation/{dataset}/{model}/seed{seed}.csv``, and the two summary tables
    ``root/fit/convergence.csv`` and ``root/ablation/summary.csv``, written by the fit and
    ablation stages' own functions (so the figures read exactly what those stages write).
    ``teacher``: the data set is a teacher session, whose teacher is ablated too
    (``root/ablation/{dataset}/teacher/seed0.csv``, model ``teacher`` in the summary). Each
    run has its windowed forecasts (``forecast.csv``), and the teacher too."""
    from neurocircuit.ablation import summarise_ablations
    from neurocircuit.fit.convergence import convergence_table

    rng = np.random.default_rng(2)
    time = np.arange(n_time)
    phases = rng.uniform(0, 2 * np.pi, (n_neurons, 1))
    target = 0.5 + 0.4 * np.sin(2 * np.pi * time / 40 + phases)
    ablation_runs, metrics_paths = [], []
    for index, model in enumerate(models):
        spec = parse_model_name(model)
        for seed in seeds:
            run = root / "fit" / dataset / model / f"seed{seed}"
            run.mkdir(parents=True, exist_ok=True)
            prediction = target + rng.normal(0, 0.05 + 0.02 * seed, target.shape)
            never_learns = index == len(models) - 1 and seed == seeds[-1]
            labels = {"dataset": dataset, "model": model, "seed": seed, "dynamics": spec.dynamics,
                      "dale": spec.dale, "method": spec.method}  # fmt: skip
            metrics = _write_fit_run(run, target, prediction, time, 12 + 4 * index + 5 * seed,
                                     never_learns, labels)  # fmt: skip
            metrics_paths.append(run / "metrics.json")
            write_forecast_table(run / "forecast.csv", dataset, model, seed, 0.01 + 0.01 * index)
            _write_weights(run / "weights.npz", rng, n_neurons, spec.dale)
            curves = _example_curves(rng, fractions, spec.dale, metrics["pvar"])
            ablation = root / "ablation" / dataset / model
            ablation.mkdir(parents=True, exist_ok=True)
            curves.to_csv(ablation / f"seed{seed}.csv", index=False)
            ablation_runs.append({"curves": curves, **labels})
    if teacher:
        ablation_runs.append(_write_teacher_results(root, dataset, fractions))
    convergence_table(metrics_paths).to_csv(root / "fit" / "convergence.csv", index=False)
    summarise_ablations(ablation_runs).to_csv(root / "ablation" / "summary.csv", index=False)


def _write_fit_run(run, target, prediction, time, tau, never_learns, labels) -> dict:
    """prediction.h5, pvar_per_neuron.csv, history.csv (pVar rising with time constant ``tau``
    iterations, or a run that ``never_learns`` to beat the baseline 0.3) and metrics.json of
    one run; returns the metrics."""
    from neurocircuit.fit.training import iterations_to_half_gain

    with h5py.File(run / "prediction.h5", "w") as h5:
        h5["target"] = target.astype(np.float32)
        h5["prediction"] = prediction.astype(np.float32)
        h5["time_s"] = time * 0.5
    per_neuron = 1 - ((prediction - target) ** 2).mean(1) / target.var(1)
    n_neurons = len(per_neuron)
    pd.DataFrame(
        {
            "neuron": np.arange(n_neurons),
            "pvar": per_neuron,
            "baseline_mean": np.zeros(n_neurons),
            "baseline_ar1": per_neuron - 0.3,
        }
    ).to_csv(run / "pvar_per_neuron.csv", index=False)
    iterations = np.arange(0, 101, 10)
    pvars = 1 - 0.9 * np.exp(-iterations / tau)
    if never_learns:
        pvars = 0.1 + 0.1 * (pvars - 0.1)
    pd.DataFrame({"iteration": iterations, "pvar": pvars, "loss": 1 - pvars}).to_csv(
        run / "history.csv", index=False
    )
    rows = [{"epoch": i + 1, "train_score": p} for i, p in zip(iterations, pvars, strict=True)]
    global_pvar = float(1 - ((prediction - target) ** 2).mean() / target.var())
    metrics = {
        **labels,
        "pvar": global_pvar,
        "pvar_per_neuron_median": float(np.median(per_neuron)),
        "baseline_pvar_mean": 0.3,
        "baseline_pvar_ar1": 0.6,
        "pvar_heldout": global_pvar - 0.2,
        "baseline_pvar_mean_heldout": -0.1,
        "baseline_pvar_last_frame_heldout": -0.4,
        "baseline_pvar_ar1_heldout": 0.2,
        "normalisation": "global",
        "iterations_to_half_gain": iterations_to_half_gain(rows, 0.3),
        "iterations": int(iterations[-1]),
        "wall_time_s": 1.0,
        "device": "cpu",
    }
    write_json(metrics, run / "metrics.json")
    return metrics


def _write_weights(path, rng, n_neurons: int, dale: bool) -> None:
    """weights.npz (presynaptic × postsynaptic) of a random network, 80 % excitatory."""
    weights = rng.normal(0, 1 / np.sqrt(n_neurons), (n_neurons, n_neurons))
    signs = np.where(np.arange(n_neurons) < int(0.8 * n_neurons), 1.0, -1.0)
    rng.shuffle(signs)
    with open(path, "wb") as fh:
        np.savez(
            fh,
            weights=np.abs(weights) * signs[:, None] if dale else weights,
            neuron_sign=signs if dale else np.zeros(0),
        )


def _example_curves(rng, fractions, dale: bool, global_pvar: float) -> pd.DataFrame:
    """Ablation curves falling with each strategy's slope (faster-than-linear for Dale)."""
    slope = {"random": 0.5, "weakest": 0.2, "strongest": 0.9, "hubs": 0.8}
    rows = []
    for strategy in STRATEGIES:
        for repeat in range(3 if strategy == "random" else 1):
            for fraction in fractions:
                ratio = 1 - slope[strategy] * fraction ** (1.5 if dale else 1.0)
                ratio += rng.normal(0, 0.02) * (fraction > 0)
                rows.append(
                    {
                        "strategy": strategy,
                        "fraction": fraction,
                        "repeat": repeat,
                        "n_removed": 0,
                        "pvar": ratio * global_pvar,
                        "pvar_ratio": ratio,
                    }
                )
    return pd.DataFrame(rows)


def _write_teacher_results(root: Path, dataset: str, fractions) -> dict:
    """The teacher's forecast table and ablation curves; returns its ablation run."""
    forecast = root / "fit" / dataset / "teacher" / "forecast.csv"
    write_forecast_table(forecast, dataset, "teacher", 0, 0.005)
    curves = pd.DataFrame(
        [
            {"strategy": strategy, "fraction": fraction, "repeat": 0, "n_removed": 0,
             "pvar": 0.5 * (1 - fraction), "pvar_ratio": 1 - fraction}
            for strategy in STRATEGIES
            for fraction in fractions
        ]
    )  # fmt: skip
    folder = root / "ablation" / dataset / "teacher"
    folder.mkdir(parents=True, exist_ok=True)
    curves.to_csv(folder / "seed0.csv", index=False)
    return {"curves": curves, "dataset": dataset, "model": "teacher", "seed": 0,
            "dynamics": "teacher", "dale": None, "method": None}  # fmt: skip
