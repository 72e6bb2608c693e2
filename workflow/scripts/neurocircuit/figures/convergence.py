"""Convergence figure: pVar against training iteration for every seed, and the iterations each
run needed to reach the pVar target (0.9), Dale vs no Dale."""

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
    model_handles,
    model_label,
    read_table,
    run_id,
    save_figure,
    sort_models,
)
from neurocircuit.models.names import model_traits

CONVERGENCE_COLUMNS = ("dataset", "model", "seed")


def _iterations_column(table: pd.DataFrame, path) -> str:
    """``iterations_to_pvar`` (the fit stage's name), else the first ``iterations_to_*``."""
    if "iterations_to_pvar" in table.columns:
        return "iterations_to_pvar"
    candidates = [c for c in table.columns if c.startswith("iterations_to")]
    if not candidates:
        raise ValueError(
            f"{path}: missing a column of iterations to the target (iterations_to_pvar); found "
            f"{', '.join(table.columns)}"
        )
    return candidates[0]


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


def _read_convergence(
    convergence_csv: str | Path, dataset: str | None, target_pvar: float | None
) -> tuple[pd.DataFrame, str, float]:
    """The convergence table's rows (of ``dataset`` when given), the name of its column of
    iterations to the target, and the target pVar (given, else the table's one level, else
    0.9)."""
    convergence = read_table(convergence_csv, CONVERGENCE_COLUMNS)
    to_target = _iterations_column(convergence, convergence_csv)
    if dataset is not None:
        convergence = convergence[convergence["dataset"] == dataset]
    if target_pvar is None:
        levels = convergence.get("convergence_pvar", pd.Series(dtype=float)).dropna().unique()
        target_pvar = float(levels[0]) if len(levels) == 1 else 0.9
    return convergence, to_target, target_pvar


def _pvar_curves(
    ax, history: pd.DataFrame, columns: tuple[str, str], target_pvar: float, font_size: float
) -> None:
    """Left panel: pVar against iteration, one line per (model, seed), and the target level.
    ``columns`` are the history's (iteration, pVar) column names."""
    iteration_column, pvar_column = columns
    for (model, _seed), run in history.groupby(["model", "seed"]):
        traits = model_traits(model)
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
    ax.axhline(target_pvar, color="#555555", linestyle=":", linewidth=1.0)
    ax.text(
        0.99,
        target_pvar,
        f"target {target_pvar:g}",
        transform=ax.get_yaxis_transform(),
        ha="right",
        va="bottom",
        fontsize=font_size - 1,
        color="#555555",
    )
    low = np.nanpercentile(history[pvar_column], 5)
    ax.set_ylim(max(low, -0.5) - 0.05, 1.0)
    ax.set_xlabel("training iteration")
    ax.set_ylabel("pVar (all neurons and times)")
    ax.set_title("pVar during training (one line per seed)")
    ax.grid(alpha=0.3)


def _not_reached_level(iterations: pd.Series, last_iteration: float) -> float:
    """Height of the "not reached" row: above every run's iterations to the target and above
    the longest training."""
    reached = pd.to_numeric(iterations, errors="coerce")
    highest = float(np.nanmax(reached)) if reached.notna().any() else 0.0
    return max(highest, last_iteration) * 1.08 + 1


def _iterations_dots(
    ax, convergence: pd.DataFrame, to_target: str, models: Sequence[str], ceiling: float
) -> None:
    """Right panel's data: per model one jittered dot per seed at its iterations to the target
    (at ``ceiling`` when never reached) and a line at their median."""
    rng = np.random.default_rng(0)
    for xi, model in enumerate(models):
        rows = convergence[convergence["model"] == model]
        values = pd.to_numeric(rows[to_target], errors="coerce").to_numpy(float)
        if values.size == 0:
            continue
        shown = np.where(np.isfinite(values), values, ceiling)
        jitter = rng.uniform(-0.12, 0.12, values.size)
        ax.plot(
            xi + jitter,
            shown,
            marker=LEARNING_MARKER[model_traits(model).learning],
            linestyle="none",
            color=dale_colour(model),
            markeredgecolor="black",
        )
        if np.isfinite(values).any():
            ax.plot([xi - 0.25, xi + 0.25], [np.nanmedian(values)] * 2, color="black")


def _iterations_axes(ax, models: Sequence[str], ceiling: float, target_pvar: float) -> None:
    """Right panel's axes: models along x, iterations up to the "not reached" row on y."""
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
    ax.set_yticks([*ticks, ceiling], [f"{t:g}" for t in ticks] + ["not\nreached"])
    ax.set_ylabel(f"iterations to pVar {target_pvar:g}")
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
    target_pvar: float | None = None,
    dpi: int = 150,
    font_size: float = 10.0,
) -> None:
    """Left: pVar against iteration, one thin line per (model, seed), colour Dale / no Dale, line
    style spiking / rate. Right: iterations to reach ``target_pvar`` per model, one dot per seed;
    runs that never reached it sit on a "not reached" row at the top. ``target_pvar`` None reads
    the level from the table's ``convergence_pvar`` column (0.9 when absent or mixed).

    ``history_csvs`` are ``results/fit/{dataset}/{model}/seed{seed}/history.csv`` (columns
    ``iteration_column`` and ``pvar_column``); ``convergence_csv`` is
    ``results/fit/convergence.csv`` (dataset, model, seed and ``iterations_to_pvar`` or another
    ``iterations_to_*`` column, empty when not reached).
    """
    history = _read_histories(history_csvs, dataset, iteration_column, pvar_column)
    convergence, to_target, target_pvar = _read_convergence(convergence_csv, dataset, target_pvar)
    models = sort_models(history["model"])

    apply_style(font_size)
    fig, (ax_curve, ax_iter) = plt.subplots(
        1,
        2,
        figsize=(max(10.0, 5.5 + 0.7 * len(models)), 4.6),
        gridspec_kw={"width_ratios": [1.4, 1]},
    )
    _pvar_curves(ax_curve, history, (iteration_column, pvar_column), target_pvar, font_size)
    ceiling = _not_reached_level(convergence[to_target], float(history[iteration_column].max()))
    _iterations_dots(ax_iter, convergence, to_target, models, ceiling)
    _iterations_axes(ax_iter, models, ceiling, target_pvar)
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
