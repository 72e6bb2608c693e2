"""Fitted-activity figures: recorded vs fitted activity, and pVar per neuron against baselines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from neurocircuit.figures.style import (
    BASELINE_COLOURS,
    DALE_COLOUR,
    FITTED_COLOUR,
    NO_DALE_COLOUR,
    RECORDED_COLOUR,
    SEQUENTIAL_CMAP,
    apply_style,
    dale_colour,
    model_label,
    read_json,
    read_table,
    run_id,
    save_figure,
    sort_models,
)
from neurocircuit.metrics import pvar, pvar_per_neuron


def read_prediction(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``target``, ``prediction`` (neurons × time) and ``time_s`` (or None) of a prediction.h5."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        with h5py.File(path, "r") as h5:
            missing = [name for name in ("target", "prediction") if name not in h5]
            if missing:
                raise ValueError(
                    f"{path}: missing dataset(s) {', '.join(missing)}; found {', '.join(h5)}"
                )
            target = np.asarray(h5["target"], dtype=np.float64)
            prediction = np.asarray(h5["prediction"], dtype=np.float64)
            time_s = np.asarray(h5["time_s"], dtype=np.float64) if "time_s" in h5 else None
    except OSError as error:
        raise ValueError(f"{path}: not a readable HDF5 file ({error})") from None
    if target.ndim != 2 or target.shape != prediction.shape:
        raise ValueError(
            f"{path}: target {target.shape} and prediction {prediction.shape} must be equal "
            "neurons × time matrices"
        )
    if time_s is not None and time_s.shape != (target.shape[1],):
        time_s = None
    return target, prediction, time_s


def example_neurons(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` neurons spanning the per-neuron pVar distribution, best to worst
    (quantiles of the finite scores), so the examples show typical fits, not only the best."""
    order = np.argsort(-np.where(np.isfinite(scores), scores, -np.inf), kind="stable")
    order = order[np.isfinite(scores[order])] if np.isfinite(scores).any() else order
    count = max(1, min(count, order.size))
    picks = np.unique(np.round(np.linspace(0, order.size - 1, count)).astype(int))
    return order[picks]


def plot_recorded_vs_fitted(
    prediction_h5: str | Path,
    png_path: str | Path,
    pdf_path: str | Path,
    *,
    title: str | None = None,
    n_examples: int = 4,
    dpi: int = 150,
    font_size: float = 10.0,
) -> None:
    """Recorded and fitted activity as heatmaps side by side (same neuron order and colour
    scale), and example neurons' traces with their pVar.

    ``prediction_h5`` holds ``target`` and ``prediction`` (neurons × time, normalised) and
    optionally ``time_s`` (s); without it the time axis is in frames.
    """
    target, prediction, time_s = read_prediction(prediction_h5)
    scores = pvar_per_neuron(prediction, target, time_axis=1)
    overall = pvar(prediction, target)
    n_neurons, n_time = target.shape
    if time_s is None:
        time_axis, time_label = np.arange(n_time, dtype=float), "time (frames)"
    else:
        time_axis, time_label = time_s, "time (s)"
    peak_order = np.argsort(np.argmax(target, axis=1), kind="stable")
    low, high = np.nanpercentile(target, [1, 99])
    if not high > low:
        low, high = float(np.nanmin(target)), float(np.nanmax(target)) + 1e-9

    apply_style(font_size)
    examples = example_neurons(scores, n_examples)
    fig = plt.figure(figsize=(12, 4.2 + 1.2 * len(examples)))
    grid = fig.add_gridspec(
        2,
        3,
        height_ratios=[3.2, 1.2 * len(examples)],
        width_ratios=[1, 1, 0.04],
        hspace=0.35,
        wspace=0.12,
    )
    extent = (time_axis[0], time_axis[-1], n_neurons - 0.5, -0.5)
    image = None
    for col, (matrix, name) in enumerate(((target, "recorded"), (prediction, "fitted"))):
        ax = fig.add_subplot(grid[0, col])
        image = ax.imshow(
            matrix[peak_order],
            aspect="auto",
            interpolation="nearest",
            cmap=SEQUENTIAL_CMAP,
            vmin=low,
            vmax=high,
            extent=extent,
        )
        ax.set_title(f"{name} activity" + (f" (pVar {overall:.3f})" if col else ""))
        ax.set_xlabel(time_label)
        if col == 0:
            ax.set_ylabel("neuron (sorted by time of peak)")
        else:
            ax.set_yticklabels([])
    fig.colorbar(image, cax=fig.add_subplot(grid[0, 2]), label="normalised activity (a.u.)")

    traces = grid[1, :2].subgridspec(len(examples), 1, hspace=0.15)
    for row, neuron in enumerate(examples):
        ax = fig.add_subplot(traces[row])
        ax.plot(time_axis, target[neuron], color=RECORDED_COLOUR, linewidth=1.2, label="recorded")
        ax.plot(
            time_axis,
            prediction[neuron],
            color=FITTED_COLOUR,
            linewidth=1.4,
            linestyle="--",
            label="fitted",
        )
        ax.text(
            1.005,
            0.5,
            f"neuron {neuron}\npVar {scores[neuron]:.2f}",
            transform=ax.transAxes,
            va="center",
            fontsize=font_size - 1,
        )
        ax.set_ylabel("a.u.")
        ax.set_xlim(time_axis[0], time_axis[-1])
        if row < len(examples) - 1:
            ax.set_xticklabels([])
        else:
            ax.set_xlabel(time_label)
        if row == 0:
            ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2, frameon=False)
    fig.suptitle(title or f"Recorded vs fitted activity ({n_neurons} neurons)")
    save_figure(fig, png_path, pdf_path, dpi)


PER_NEURON_PVAR_COLUMN = "pvar"
METRIC_KEYS = ("pvar", "pvar_per_neuron_median", "baseline_pvar_mean", "baseline_pvar_ar1")


def plot_pvar_per_neuron(
    per_neuron_csvs: Sequence[str | Path],
    metrics_jsons: Sequence[str | Path],
    png_path: str | Path,
    pdf_path: str | Path,
    *,
    pvar_column: str = PER_NEURON_PVAR_COLUMN,
    dpi: int = 150,
    font_size: float = 10.0,
) -> None:
    """Distribution of per-neuron pVar for every model (all seeds pooled) next to the baselines,
    and each run's global and held-out pVar next to the same baselines.

    ``per_neuron_csvs`` and ``metrics_jsons`` are the files of
    ``results/fit/{dataset}/{model}/seed{seed}/``; a per-neuron table needs a ``pvar_column``
    (and may have a per-neuron AR(1) column, any name containing "ar1"). Per neuron the time-mean
    predictor scores exactly 0; the global baselines come from each run's metrics.json, averaged
    over runs.
    """
    if not per_neuron_csvs:
        raise ValueError("plot_pvar_per_neuron: no per-neuron pVar files given")
    neurons = []
    for path in per_neuron_csvs:
        run = run_id(path)
        table = read_table(path, (pvar_column,))
        ar1_columns = [c for c in table.columns if "ar1" in c.lower()]
        neurons.append(
            pd.DataFrame(
                {
                    "model": run.model,
                    "seed": run.seed,
                    "pvar": table[pvar_column].astype(float),
                    "ar1": table[ar1_columns[0]].astype(float) if ar1_columns else np.nan,
                }
            )
        )
    per_neuron = pd.concat(neurons, ignore_index=True)
    runs = []
    for path in metrics_jsons:
        run = run_id(path)
        metrics = read_json(path, METRIC_KEYS)
        runs.append(
            {
                "model": run.model,
                "seed": run.seed,
                **{key: metrics.get(key, np.nan) for key in (*METRIC_KEYS, "pvar_heldout")},
            }
        )
    per_run = pd.DataFrame(runs)
    datasets = {run_id(p).dataset for p in [*per_neuron_csvs, *metrics_jsons]}

    apply_style(font_size)
    models = sort_models(per_neuron["model"])
    fig, (ax_dist, ax_runs) = plt.subplots(
        1,
        2,
        figsize=(max(9.0, 2.2 + 1.6 * len(models)), 4.8),
        gridspec_kw={"width_ratios": [1.3, 1]},
    )
    data = [per_neuron.loc[per_neuron["model"] == m, "pvar"].dropna().to_numpy() for m in models]
    parts = ax_dist.violinplot(
        [d if d.size else [np.nan] for d in data], showmedians=True, showextrema=False
    )
    for body, model in zip(parts["bodies"], models, strict=True):
        body.set_facecolor(dale_colour(model))
        body.set_edgecolor("black")
        body.set_alpha(0.6)
    parts["cmedians"].set_color("black")
    labels = [model_label(m) for m in models]
    # Per neuron, the time-mean predictor scores exactly 0; an AR(1) column is used when present.
    ax_dist.axhline(0.0, color=BASELINE_COLOURS["mean"], linestyle=":", linewidth=1.6)
    if per_neuron["ar1"].notna().any():
        ax_dist.axhline(
            per_neuron["ar1"].median(), color=BASELINE_COLOURS["ar1"], linestyle=":", linewidth=1.6
        )
    for key, name, column in (
        ("mean", "time-mean predictor", "baseline_pvar_mean"),
        ("ar1", "AR(1) rollout", "baseline_pvar_ar1"),
    ):
        if not per_run[column].isna().all():
            ax_runs.axhline(
                per_run[column].mean(),
                color=BASELINE_COLOURS[key],
                linestyle=":",
                linewidth=1.6,
                label=f"baseline: {name}",
            )
    for ax in (ax_dist, ax_runs):
        ax.set_xticks(
            np.arange(1, len(models) + 1), labels, rotation=30, ha="right", rotation_mode="anchor"
        )
        ax.grid(axis="y", alpha=0.3)
    ax_dist.set_ylabel("pVar per neuron")
    ax_dist.set_title("per-neuron pVar (all seeds)")
    floor = np.nanpercentile(per_neuron["pvar"], 2) if per_neuron["pvar"].notna().any() else 0
    ax_dist.set_ylim(max(-1.0, min(floor, 0.0) - 0.05), 1.02)

    offsets = {"pvar": -0.12, "pvar_heldout": 0.12}
    names = {"pvar": "global pVar", "pvar_heldout": "held-out pVar (last 20 %)"}
    markers = {"pvar": "o", "pvar_heldout": "s"}
    for key in ("pvar", "pvar_heldout"):
        if per_run.empty or per_run[key].isna().all():
            continue
        for i, model in enumerate(models, start=1):
            values = per_run.loc[per_run["model"] == model, key].dropna().to_numpy(float)
            ax_runs.plot(
                np.full(values.size, i + offsets[key]),
                values,
                marker=markers[key],
                linestyle="none",
                color=dale_colour(model),
                markeredgecolor="black",
                alpha=0.9,
            )
    ax_runs.set_ylabel("pVar (all neurons and times)")
    ax_runs.set_title("per run: global and held-out")
    ax_runs.set_xlim(0.4, len(models) + 0.6)
    handles = [
        Patch(facecolor=DALE_COLOUR, edgecolor="black", alpha=0.7, label="Dale"),
        Patch(facecolor=NO_DALE_COLOUR, edgecolor="black", alpha=0.7, label="no Dale"),
    ]
    handles += [line for line in ax_runs.get_lines() if line.get_label().startswith("baseline")]
    for key in ("pvar", "pvar_heldout"):
        if not (per_run.empty or per_run[key].isna().all()):
            handles.append(
                Line2D(
                    [],
                    [],
                    marker=markers[key],
                    linestyle="none",
                    color="#999999",
                    markeredgecolor="black",
                    label=names[key],
                )
            )
    fig.suptitle(f"Fit quality on {', '.join(sorted(datasets))}")
    fig.tight_layout()
    fig.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=3, frameon=False
    )
    save_figure(fig, png_path, pdf_path, dpi)
