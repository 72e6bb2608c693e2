"""Convergence figure: pVar against training iteration for every seed, and the iterations each
run needed to gain half of what it gained over the time-mean baseline, Dale vs no Dale."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from neurocircuit.figures.style import (
    DYNAMICS_LINESTYLE,
    LEARNING_MARKER,
    apply_style,
    dale_colour,
    figure_traits,
    model_handles,
    model_label,
    read_table,
    run_id,
    save_figure,
    sort_models,
)

TO_HALF_GAIN = "iterations_to_half_gain"
CONVERGENCE_COLUMNS = ("dataset", "model", "seed", "baseline_pvar_mean")
BASELINE_COLOUR = "#555555"


def _read_histories(
    history_csvs: Sequence[str | Path], dataset: str | None, iteration_column: str, pvar_column: str
) -> pd.DataFrame:
    """Every run's training history (of ``dataset`` when given) in one table, with model and
    seed columns added."""
    if not history_csvs:
        raise ValueError("plot_convergence: no history files given")
    frames = []
    for path in history_csvs:
        run = run_id(path)
        if dataset is not None and run.dataset != dataset:
            continue
        table = read_table(path, (iteration_column, pvar_column))
        frames.append(table.assign(model=run.model, seed=run.seed))
    if not frames:
        raise ValueError(f"plot_convergence: no history file of dataset {dataset}")
    return pd.concat(frames, ignore_index=True)


def _read_convergence(convergence_csv: str | Path, dataset: str | None) -> pd.DataFrame:
    """The convergence table's rows (of ``dataset`` when given); a clear error without its
    column of iterations to half the gain."""
    convergence = read_table(convergence_csv, CONVERGENCE_COLUMNS)
    if TO_HALF_GAIN not in convergence.columns:
        raise ValueError(
            f"{convergence_csv}: missing a column of iterations to half the gain ({TO_HALF_GAIN}); "
            f"found {', '.join(convergence.columns)}"
        )
    if dataset is not None:
        convergence = convergence[convergence["dataset"] == dataset]
    return convergence


def _half_gain_points(
    history: pd.DataFrame, convergence: pd.DataFrame, columns: tuple[str, str]
) -> pd.DataFrame:
    """(model, seed, iteration, pVar) where each run first reached half its gain: its row of
    the history at the convergence table's iterations (runs that gained nothing left out)."""
    iteration_column, pvar_column = columns
    reached = convergence.dropna(subset=[TO_HALF_GAIN])[["model", "seed", TO_HALF_GAIN]]
    reached = reached.astype({"seed": int, TO_HALF_GAIN: int})
    points = history.astype({"seed": int}).merge(
        reached,
        left_on=["model", "seed", iteration_column],
        right_on=["model", "seed", TO_HALF_GAIN],
    )
    return points[["model", "seed", iteration_column, pvar_column]]


def _pvar_curves(
    ax, history: pd.DataFrame, points: pd.DataFrame, columns: tuple[str, str], baseline: float
) -> None:
    """Left panel: pVar against iteration, one line per (model, seed), a star where the run
    reached half its gain, and the time-mean baseline. ``columns`` are the history's
    (iteration, pVar) column names."""
    iteration_column, pvar_column = columns
    for (model, _seed), run in history.groupby(["model", "seed"]):
        traits = figure_traits(model)
        ax.plot(
            run[iteration_column],
            run[pvar_column],
            color=dale_colour(model),
            linestyle=DYNAMICS_LINESTYLE[traits.dynamics],
            marker=LEARNING_MARKER[traits.learning],
            markevery=max(1, len(run) // 6),
            markersize=4,
            linewidth=1.0,
            alpha=0.75,
        )
    for model, run in points.groupby("model"):
        ax.plot(
            run[iteration_column],
            run[pvar_column],
            marker="*",
            markersize=11,
            linestyle="none",
            color=dale_colour(model),
            markeredgecolor="black",
            zorder=5,
        )
    ax.axhline(baseline, color=BASELINE_COLOUR, linestyle=":", linewidth=1.2)
    ax.text(
        0.99,
        baseline,
        f"time-mean baseline {baseline:.2f}",
        transform=ax.get_yaxis_transform(),
        ha="right",
        va="bottom",
        color=BASELINE_COLOUR,
    )
    low = min(max(float(np.nanpercentile(history[pvar_column], 5)), -0.5), baseline)
    ax.set_ylim(low - 0.05, 1.0)
    has_force = any(figure_traits(m).learning == "force" for m in history["model"].unique())
    ax.set_xlabel("training iteration (FORCE: one pass)" if has_force else "training iteration")
    ax.set_ylabel("pVar (all neurons and times)")
    ax.set_title("pVar during training (star: half the gain reached)")
    ax.grid(alpha=0.3)


def _no_gain_level(iterations: pd.Series, last_iteration: float) -> float:
    """Height of the "no gain" row: above every run's iterations to half its gain and above
    the longest training."""
    reached = pd.to_numeric(iterations, errors="coerce")
    highest = float(np.nanmax(reached)) if reached.notna().any() else 0.0
    return max(highest, last_iteration) * 1.08 + 1


def _iterations_dots(ax, convergence: pd.DataFrame, models: Sequence[str], ceiling: float) -> None:
    """Right panel's data: per model one jittered dot per seed at its iterations to half its
    gain (at ``ceiling`` when it gained nothing) and a line at their median."""
    rng = np.random.default_rng(0)
    for xi, model in enumerate(models):
        rows = convergence[convergence["model"] == model]
        values = pd.to_numeric(rows[TO_HALF_GAIN], errors="coerce").to_numpy(float)
        if values.size == 0:
            continue
        shown = np.where(np.isfinite(values), values, ceiling)
        jitter = rng.uniform(-0.12, 0.12, values.size)
        ax.plot(
            xi + jitter,
            shown,
            marker=LEARNING_MARKER[figure_traits(model).learning],
            linestyle="none",
            color=dale_colour(model),
            markeredgecolor="black",
        )
        if np.isfinite(values).any():
            ax.plot([xi - 0.25, xi + 0.25], [np.nanmedian(values)] * 2, color="black")


def _iterations_axes(ax, models: Sequence[str], ceiling: float) -> None:
    """Right panel's axes: models along x, iterations up to the "no gain" row on y."""
    ax.axhline(ceiling, color="#999999", linewidth=0.8, linestyle="--")
    ax.set_xticks(
        np.arange(len(models)),
        [model_label(m) for m in models],
        rotation=35,
        ha="right",
        rotation_mode="anchor",
    )
    ax.set_xlim(-0.5, len(models) - 0.5)
    ax.set_ylim(0, ceiling * 1.1)
    ticks = [
        t for t in MaxNLocator(nbins=6, integer=True).tick_values(0, ceiling) if t < 0.9 * ceiling
    ]
    ax.set_yticks([*ticks, ceiling], [f"{t:g}" for t in ticks] + ["no gain"])
    ax.set_ylabel("iterations to half the gain\nover the time-mean baseline")
    ax.set_title("per seed (line: median)")
    ax.grid(axis="y", alpha=0.3)


def plot_convergence(
    history_csvs: Sequence[str | Path],
    convergence_csv: str | Path,
    png_path: str | Path,
    pdf_path: str | Path,
    *,
    dataset: str | None = None,
    iteration_column: str = "iteration",
    pvar_column: str = "pvar",
    dpi: int = 150,
    font_size: float = 10.0,
) -> None:
    """Left: pVar against iteration, one thin line per (model, seed), colour Dale / no Dale, line
    style spiking / rate, a star where each run first reached half its gain, and the time-mean
    baseline's pVar (dotted; the mean over runs). Right: iterations to half the gain per model,
    one dot per seed; runs that gained nothing over the baseline sit on a "no gain" row at the
    top. Half the gain: pVar ≥ baseline + (best pVar − baseline) / 2, so the measure starts
    where the data's baseline is, not at a fixed level (neurocircuit.fit.training).

    ``history_csvs`` are ``results/fit/{dataset}/{model}/seed{seed}/history.csv`` (columns
    ``iteration_column`` and ``pvar_column``); ``convergence_csv`` is
    ``results/fit/convergence.csv`` (dataset, model, seed, baseline_pvar_mean and
    iterations_to_half_gain, empty when the run gained nothing).
    """
    columns = (iteration_column, pvar_column)
    history = _read_histories(history_csvs, dataset, iteration_column, pvar_column)
    convergence = _read_convergence(convergence_csv, dataset)
    models = sort_models(history["model"])
    baseline = float(pd.to_numeric(convergence["baseline_pvar_mean"]).mean())

    apply_style(font_size)
    fig, (ax_curve, ax_iter) = plt.subplots(
        1,
        2,
        figsize=(max(10.0, 5.5 + 0.7 * len(models)), 4.6),
        gridspec_kw={"width_ratios": [1.4, 1]},
    )
    points = _half_gain_points(history, convergence, columns)
    _pvar_curves(ax_curve, history, points, columns, baseline)
    ceiling = _no_gain_level(convergence[TO_HALF_GAIN], float(history[iteration_column].max()))
    _iterations_dots(ax_iter, convergence, models, ceiling)
    _iterations_axes(ax_iter, models, ceiling)
    title_dataset = dataset or ", ".join(sorted({run_id(p).dataset for p in history_csvs}))
    fig.suptitle(f"Convergence across seeds on {title_dataset}")
    fig.tight_layout()
    fig.legend(
        handles=model_handles(models),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=min(4, len(models)),
        frameon=False,
        title="colour: Dale / no Dale; line: spiking / rate; marker: learning rule",
    )
    save_figure(fig, png_path, pdf_path, dpi)
