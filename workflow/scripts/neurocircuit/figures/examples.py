"""Small synthetic result files in the exact formats the stages write, for tests of the figures
and the report (and to preview a figure without running the study). Numbers are plausible, not
real: never cite them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from neurocircuit.runtime import write_json

FIT_MODELS = ("spiking_nodale_eprop", "spiking_dale_eprop", "rate_nodale_bptt", "rate_dale_bptt")
CLASSIFICATION_MODELS = ("lif", "lif_dale")
STRATEGIES = ("random", "weakest", "strongest", "hubs")


def write_classification_results(
    root: Path,
    datasets: Sequence[str] = ("digits", "fashion-mnist"),
    models: Sequence[str] = CLASSIFICATION_MODELS,
    seeds: Sequence[int] = (0, 1),
    epochs: int = 5,
) -> None:
    """``root/classification/summary.csv`` and per-run metrics.json + history.csv."""
    rng = np.random.default_rng(1)
    references = {"fashion-mnist": (0.863, "SpyTorch tutorial"), "shd": (0.692, "SpyTorch")}
    rows = []
    for dataset in datasets:
        for model in models:
            accs = []
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
                accs.append(float(history["val_accuracy"].iloc[-1]))
                write_json(
                    {
                        "test_accuracy": accs[-1],
                        "val_accuracy": accs[-1],
                        "train_accuracy": float(history["train_accuracy"].iloc[-1]),
                        "epochs": epochs,
                        "wall_time_s": 1.0,
                        "device": "cpu",
                    },
                    run / "metrics.json",
                )
            reference, source = references.get(dataset, (np.nan, ""))
            rows.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "n_seeds": len(seeds),
                    "test_accuracy_mean": np.mean(accs),
                    "test_accuracy_sd": np.std(accs),
                    "val_accuracy_mean": np.mean(accs),
                    "reference_accuracy": reference,
                    "reference_source": source or None,
                }
            )
    pd.DataFrame(rows).to_csv(root / "classification" / "summary.csv", index=False)


def write_fit_results(
    root: Path,
    dataset: str = "synthetic",
    models: Sequence[str] = FIT_MODELS,
    seeds: Sequence[int] = (0, 1),
    n_neurons: int = 24,
    n_time: int = 120,
    fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
) -> None:
    """Per-run fit outputs (metrics.json, pvar_per_neuron.csv, prediction.h5, weights.npz,
    history.csv), ``root/fit/convergence.csv``, per-run ablation CSVs and
    ``root/ablation/summary.csv``."""
    rng = np.random.default_rng(2)
    time = np.arange(n_time)
    phases = rng.uniform(0, 2 * np.pi, (n_neurons, 1))
    target = 0.5 + 0.4 * np.sin(2 * np.pi * time / 40 + phases)
    convergence, area_rows = [], []
    for index, model in enumerate(models):
        dale = "nodale" not in model
        for seed in seeds:
            run = root / "fit" / dataset / model / f"seed{seed}"
            run.mkdir(parents=True, exist_ok=True)
            prediction = target + rng.normal(0, 0.05 + 0.02 * seed, target.shape)
            with h5py.File(run / "prediction.h5", "w") as h5:
                h5["target"] = target.astype(np.float32)
                h5["prediction"] = prediction.astype(np.float32)
                h5["time_s"] = time * 0.5
            per_neuron = 1 - ((prediction - target) ** 2).mean(1) / target.var(1)
            pd.DataFrame({"neuron": np.arange(n_neurons), "pvar": per_neuron}).to_csv(
                run / "pvar_per_neuron.csv", index=False
            )
            global_pvar = float(1 - ((prediction - target) ** 2).mean() / target.var())
            write_json(
                {
                    "pvar": global_pvar,
                    "pvar_per_neuron_median": float(np.median(per_neuron)),
                    "baseline_pvar_mean": 0.3,
                    "baseline_pvar_ar1": 0.6,
                    "pvar_heldout": global_pvar - 0.1,
                    "iterations_to_0.9": 40 + 10 * seed,
                    "normalisation": "global_minmax",
                },
                run / "metrics.json",
            )
            iterations = np.arange(0, 101, 10)
            pvars = 1 - 0.9 * np.exp(-iterations / (12 + 4 * index + 5 * seed))
            pd.DataFrame({"iteration": iterations, "pvar": pvars}).to_csv(
                run / "history.csv", index=False
            )
            reached = iterations[np.argmax(pvars >= 0.9)] if (pvars >= 0.9).any() else np.nan
            convergence.append(
                {"dataset": dataset, "model": model, "seed": seed, "iterations_to_0.9": reached}
            )
            weights = rng.normal(0, 1 / np.sqrt(n_neurons), (n_neurons, n_neurons))
            signs = np.where(np.arange(n_neurons) < int(0.8 * n_neurons), 1.0, -1.0)
            rng.shuffle(signs)
            arrays = {"weights": np.abs(weights) * signs[:, None] if dale else weights}
            if dale:
                arrays["neuron_sign"] = signs
            np.savez(run / "weights.npz", **arrays)
            ablation = root / "ablation" / dataset / model
            ablation.mkdir(parents=True, exist_ok=True)
            rows = []
            for strategy in STRATEGIES:
                for repeat in range(3 if strategy == "random" else 1):
                    slope = {"random": 0.5, "weakest": 0.2, "strongest": 0.9, "hubs": 0.8}
                    for fraction in fractions:
                        ratio = 1 - slope[strategy] * fraction ** (1.5 if dale else 1.0)
                        ratio += rng.normal(0, 0.02) * (fraction > 0)
                        rows.append(
                            {
                                "strategy": strategy,
                                "fraction": fraction,
                                "repeat": repeat,
                                "n_removed": 0,
                                "pvar": ratio * 0.9,
                                "pvar_ratio": ratio,
                            }
                        )
            curves = pd.DataFrame(rows)
            curves.to_csv(ablation / f"seed{seed}.csv", index=False)
            for strategy, group in curves.groupby("strategy"):
                mean = group.groupby("fraction")["pvar_ratio"].mean()
                area_rows.append(
                    {
                        "section": "auc",
                        "dataset": dataset,
                        "model": model,
                        "seed": seed,
                        "strategy": strategy,
                        "auc": float(np.trapezoid(mean.values, mean.index)),
                    }
                )
    pd.DataFrame(convergence).to_csv(root / "fit" / "convergence.csv", index=False)
    welch = [
        {
            "section": "welch",
            "dataset": dataset,
            "strategy": strategy,
            "comparison": comparison,
            "p": 0.01,
            "cohens_d": 1.2,
        }
        for strategy in STRATEGIES
        for comparison in ("Dale vs no Dale", "spiking vs rate")
    ]
    pd.DataFrame(area_rows + welch).to_csv(root / "ablation" / "summary.csv", index=False)
