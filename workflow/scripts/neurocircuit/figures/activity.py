"""Fitted-activity figures: recorded vs fitted activity, and pVar per neuron against baselines."""

from __future__ import annotations

import textwrap
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
    DALE_SIGN_COLOUR,
    FITTED_COLOUR,
    NO_DALE_COLOUR,
    RECORDED_COLOUR,
    SEQUENTIAL_CMAP,
    apply_style,
    dale_colour,
    figure_traits,
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


def _time_axis(time_s: np.ndarray | None, n_time: int) -> tuple[np.ndarray, str]:
    """Time of each frame (s, or frame numbers when the file has no ``time_s``) and its label."""
    if time_s is None:
        return np.arange(n_time, dtype=float), "time (frames)"
    return time_s, "time (s)"


def _colour_limits(target: np.ndarray) -> tuple[float, float]:
    """Shared colour scale of both heatmaps: the 1st to 99th percentile of the recording."""
    low, high = np.nanpercentile(target, [1, 99])
    if not high > low:
        low, high = float(np.nanmin(target)), float(np.nanmax(target)) + 1e-9
    return low, high


def _activity_heatmaps(
    fig, grid, target: np.ndarray, prediction: np.ndarray, time_axis: np.ndarray, time_label: str
) -> None:
    """Top row: recorded and fitted activity (neurons sorted by time of peak, one colour scale)
    and their colour bar; the fitted panel's title gives the overall pVar."""
    n_neurons = target.shape[0]
    peak_order = np.argsort(np.argmax(target, axis=1), kind="stable")
    low, high = _colour_limits(target)
    overall = pvar(prediction, target)
    extent = (time_axis[0], time_axis[-1], n_neurons - 0.5, -0.5)
    image = None
    for col, (matrix, name) in enumerate(((target, "recorded"), (prediction, "fitted"))):
        ax = fig.add_subplot(grid[0, col])
        image = ax.imshow(
            matrix[peak_order],
            aspect="auto",
            interpolation="nearest" if n_neurons <= 200 else "antialiased",
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


def _example_traces(
    fig,
    cell,
    target: np.ndarray,
    prediction: np.ndarray,
    scores: np.ndarray,
    examples: np.ndarray,
    time_axis: np.ndarray,
    time_label: str,
    font_size: float,
) -> None:
    """Bottom rows (in grid cell ``cell``): recorded and fitted trace of each example neuron,
    with its number and pVar at the right."""
    traces = cell.subgridspec(len(examples), 1, hspace=0.15)
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


def _prediction_title(prediction_h5: str | Path, n_neurons: int) -> str:
    """Figure title: model on data set (seed, neuron count) when the file sits in the results
    layout, else a generic one."""
    try:
        run = run_id(prediction_h5)
    except ValueError:
        return f"Recorded vs fitted activity ({n_neurons} neurons)"
    return f"{model_label(run.model)} on {run.dataset} (seed {run.seed}, {n_neurons} neurons)"


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
    time_axis, time_label = _time_axis(time_s, target.shape[1])
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
    _activity_heatmaps(fig, grid, target, prediction, time_axis, time_label)
    _example_traces(
        fig, grid[1, :2], target, prediction, scores, examples, time_axis, time_label, font_size
    )
    fig.suptitle(title if title is not None else _prediction_title(prediction_h5, len(target)))
    save_figure(fig, png_path, pdf_path, dpi)


PER_NEURON_PVAR_COLUMN = "pvar"
METRIC_KEYS = ("pvar", "pvar_per_neuron_median", "baseline_pvar_mean", "baseline_pvar_ar1")
IN_SAMPLE_BASELINES = (
    ("mean", "each neuron's time-average", "baseline_pvar_mean"),
    ("ar1", "AR(1) rollout", "baseline_pvar_ar1"),
)
HELDOUT_BASELINES = (
    ("mean", "training time-average", "baseline_pvar_mean_heldout"),
    ("last_frame", "last training frame held", "baseline_pvar_last_frame_heldout"),
    ("ar1", "AR(1) forecast", "baseline_pvar_ar1_heldout"),
)


def _read_runs(
    per_neuron_csvs: Sequence[str | Path], metrics_jsons: Sequence[str | Path], pvar_column: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
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
    runs = []
    wanted = {key for _, _, key in (*IN_SAMPLE_BASELINES, *HELDOUT_BASELINES)}
    for path in metrics_jsons:
        run = run_id(path)
        metrics = read_json(path, METRIC_KEYS)
        values = {key: metrics.get(key) for key in (*METRIC_KEYS, "pvar_heldout", *wanted)}
        runs.append(
            {
                "model": run.model,
                "seed": run.seed,
                **{k: np.nan if v is None else float(v) for k, v in values.items()},
            }
        )
    return pd.concat(neurons, ignore_index=True), pd.DataFrame(runs)


PVAR_FLOOR = -1.0
"""Lowest pVar drawn: scores below it (a forecast worse than a constant) are clipped to it and
the clipping is written in the panel."""


BASELINE_STYLES = {"mean": ":", "ar1": "--", "last_frame": "-."}
BASELINE_NAMES = {
    "mean": "baseline: each neuron's time-average (held out: of the training frames)",
    "ar1": "baseline: linear AR(1), rolled out (per neuron: its median)",
    "last_frame": "baseline: last training frame held (held out only)",
}


def _points(ax, per_run: pd.DataFrame, models: Sequence[str], column: str, marker: str) -> int:
    """One dot per seed at each model's x position (1-based), coloured Dale / no Dale; values
    below PVAR_FLOOR are drawn at the floor. Returns how many were clipped."""
    clipped = 0
    for i, model in enumerate(models, start=1):
        values = per_run.loc[per_run["model"] == model, column].dropna().to_numpy(float)
        clipped += int((values < PVAR_FLOOR).sum())
        ax.plot(
            np.full(values.size, float(i)),
            np.maximum(values, PVAR_FLOOR),
            marker=marker,
            linestyle="none",
            markersize=7,
            color=dale_colour(model),
            markeredgecolor="black",
            alpha=0.9,
        )
    return clipped


def _baseline_lines(ax, per_run: pd.DataFrame, baselines, styles: dict) -> list[str]:
    """Horizontal lines at each baseline (mean over runs); returns notes for those below the
    floor, which are written in the panel instead of drawn."""
    notes = []
    for key, name, column in baselines:
        if column not in per_run or per_run[column].isna().all():
            continue
        value = float(per_run[column].mean())
        if value < PVAR_FLOOR:
            notes.append(f"{name}: {value:.2f} (below {PVAR_FLOOR:g}, not drawn)")
            continue
        ax.axhline(value, color=BASELINE_COLOURS[key], linestyle=styles[key], linewidth=1.6)
    return notes


def _title_with_notes(ax, title: str, lines: list[str], font_size: float) -> None:
    """Panel title, with the clipping notes (wrapped) under it rather than over the data."""
    notes = [textwrap.fill(line, 44) for line in lines]
    ax.set_title("\n".join([title, *notes]), fontsize=font_size if not notes else font_size - 1)


def _neuron_distributions(ax, per_neuron: pd.DataFrame, models: Sequence[str]) -> list[str]:
    """Top panel: violins of per-neuron pVar per model (all seeds pooled, clipped at
    PVAR_FLOOR), the time-average baseline (0) and the median per-neuron AR(1). Returns the
    notes for its title (clipped scores, an AR(1) median below the floor)."""
    data = [per_neuron.loc[per_neuron["model"] == m, "pvar"].dropna().to_numpy() for m in models]
    n_below = sum(int((d < PVAR_FLOOR).sum()) for d in data)
    n_scores = sum(d.size for d in data)
    data = [np.maximum(d, PVAR_FLOOR) for d in data]
    parts = ax.violinplot(
        [d if d.size else [np.nan] for d in data], showmedians=True, showextrema=False
    )
    for body, model in zip(parts["bodies"], models, strict=True):
        body.set_facecolor(dale_colour(model))
        body.set_edgecolor("black")
        body.set_alpha(0.6)
    parts["cmedians"].set_color("black")
    ax.axhline(0.0, color=BASELINE_COLOURS["mean"], linestyle=":", linewidth=1.6)
    ar1_median = float(per_neuron["ar1"].median()) if per_neuron["ar1"].notna().any() else None
    if ar1_median is not None and ar1_median >= PVAR_FLOOR:
        ax.axhline(ar1_median, color=BASELINE_COLOURS["ar1"], linestyle="--", linewidth=1.6)
    ax.set_ylabel("pVar per neuron")
    lowest = min([float(d.min()) for d in data if d.size] + [0.0])
    ax.set_ylim(max(PVAR_FLOOR, lowest) - 0.05, 1.02)
    notes = []
    if n_below:
        notes.append(
            f"{n_below} of {n_scores} scores below {PVAR_FLOOR:g}, drawn at {PVAR_FLOOR:g}"
        )
    if ar1_median is not None and ar1_median < PVAR_FLOOR:
        notes.append(f"AR(1) median: {ar1_median:.2f} (below {PVAR_FLOOR:g}, not drawn)")
    return notes


def _run_scores(
    ax, per_run: pd.DataFrame, models: Sequence[str], column: str, marker: str, baselines
) -> list[str]:
    """A per-run panel: one dot per seed of ``column`` and the ``baselines``' lines. Returns the
    notes for its title (runs and baselines below the floor)."""
    clipped = _points(ax, per_run, models, column, marker)
    notes = _baseline_lines(ax, per_run, baselines, BASELINE_STYLES)
    if clipped:
        notes.append(f"{clipped} run(s) below {PVAR_FLOOR:g}, drawn at {PVAR_FLOOR:g}")
    return notes


def _model_axis(axes, models: Sequence[str]) -> None:
    """The shared x axis (one slot per model, labelled on the bottom panel) and the per-run
    panels' y range (from 0 or below, never under PVAR_FLOOR, to 1)."""
    for ax in axes:
        ax.set_xlim(0.4, len(models) + 0.6)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(
        np.arange(1, len(models) + 1),
        [model_label(m) for m in models],
        rotation=35,
        ha="right",
        rotation_mode="anchor",
    )
    for ax in axes[1:]:
        ax.set_ylim(max(min(ax.get_ylim()[0], 0.0), PVAR_FLOOR) - 0.05, 1.02)


def _pvar_legend_handles(models: Sequence[str], has_heldout: bool) -> list:
    """Legend entries: the Dale groups present, then each baseline line drawn."""
    handles = [
        Patch(facecolor=DALE_COLOUR, edgecolor="black", alpha=0.7, label="Dale"),
        Patch(facecolor=DALE_SIGN_COLOUR, edgecolor="black", alpha=0.7, label="Dale, learned sign"),
        Patch(facecolor=NO_DALE_COLOUR, edgecolor="black", alpha=0.7, label="no Dale"),
    ]
    present = {figure_traits(m).dale_label for m in models}
    handles = [h for h in handles if h.get_label() in present]
    for key, name in BASELINE_NAMES.items():
        if key == "last_frame" and not has_heldout:
            continue
        handles.append(
            Line2D(
                [],
                [],
                color=BASELINE_COLOURS[key],
                linestyle=BASELINE_STYLES[key],
                linewidth=1.6,
                label=name,
            )
        )
    return handles


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
    """Fit quality of every model next to the baselines it must beat, in three stacked panels:

    1. per-neuron pVar, all seeds pooled (violins; each neuron scored against its own variance),
       with each neuron's time-average (exactly 0 per neuron) and the median per-neuron AR(1);
    2. global in-sample pVar per run, with the time-average and AR(1) rollout baselines;
    3. held-out pVar per run (forecast of the last frames), with the forecasting baselines
       (training time-average, last training frame held, AR(1) forecast).

    ``per_neuron_csvs`` (``pvar`` column, optionally a per-neuron AR(1) column: any name with
    "ar1") and ``metrics_jsons`` are the files of ``results/fit/{dataset}/{model}/seed{seed}/``.
    Baseline lines are means over runs (they depend only on the data).
    """
    if not per_neuron_csvs:
        raise ValueError("plot_pvar_per_neuron: no per-neuron pVar files given")
    per_neuron, per_run = _read_runs(per_neuron_csvs, metrics_jsons, pvar_column)
    datasets = {run_id(p).dataset for p in [*per_neuron_csvs, *metrics_jsons]}
    models = sort_models(per_neuron["model"])
    has_heldout = "pvar_heldout" in per_run and per_run["pvar_heldout"].notna().any()

    apply_style(font_size)
    n_panels = 3 if has_heldout else 2
    # panels stacked, models along a shared x axis: the width grows with the models only
    fig, axes = plt.subplots(
        n_panels,
        1,
        figsize=(max(7.5, 2.0 + 0.85 * len(models)), 2.0 + 3.1 * n_panels),
        sharex=True,
        gridspec_kw={"height_ratios": [1.3] + [1] * (n_panels - 1)},
    )
    panels = [
        ("per neuron (all seeds; bar: median)", _neuron_distributions(axes[0], per_neuron, models))
    ]
    axes[1].set_ylabel("pVar (all neurons and times)")
    notes = _run_scores(axes[1], per_run, models, "pvar", "o", IN_SAMPLE_BASELINES)
    panels.append(("in-sample (one dot per seed)", notes))
    if has_heldout:
        axes[2].set_ylabel("held-out pVar (forecast)")
        notes = _run_scores(axes[2], per_run, models, "pvar_heldout", "s", HELDOUT_BASELINES)
        panels.append(("held-out forecast", notes))
    _model_axis(axes, models)
    for ax, (title, lines) in zip(axes, panels, strict=True):
        _title_with_notes(ax, title, lines, font_size)
    fig.suptitle(f"Fit quality on {', '.join(sorted(datasets))} against the baselines")
    fig.tight_layout()
    fig.legend(
        handles=_pvar_legend_handles(models, has_heldout),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=1,
        frameon=False,
    )
    save_figure(fig, png_path, pdf_path, dpi)
