"""Forecast figure: windowed forecast error against horizon for every model and baseline, one
column per data set (top: MAE, middle: pVar, bottom: MAE minus the linear baseline's with its
95 % moving-block bootstrap interval), the teacher's curve as the ceiling where known."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from neurocircuit.figures.style import (
    BASELINE_COLOURS,
    DYNAMICS_LINESTYLE,
    LEARNING_MARKER,
    apply_style,
    dale_colour,
    figure_traits,
    model_handles,
    model_label,
    save_figure,
    sort_models,
)
from neurocircuit.fit.forecast_baselines import BASELINES
from neurocircuit.fit.forecast_summary import read_forecast_table
from neurocircuit.models.names import TEACHER

BASELINE_STYLE = {
    "context_mean": (BASELINE_COLOURS["mean"], "mean over the context"),
    "last_frame": (BASELINE_COLOURS["last_frame"], "last context frame"),
    "start_state": ("#2B6A8F", "start state held (causal)"),
    "linear": ("#777777", "linear on the last k frames"),
    "ar1": (BASELINE_COLOURS["ar1"], "AR(1), rolled out"),
}
METRICS = (
    ("mae", "MAE (normalised units)"),
    ("pvar", "pVar per step"),
    ("mae_diff_vs_linear", "MAE − linear's\n(band: 95 % bootstrap)"),
)


def _read_tables(paths: Sequence[str | Path]) -> pd.DataFrame:
    if not paths:
        raise ValueError("plot_forecast: no forecast table given")
    return pd.concat([read_forecast_table(path) for path in paths], ignore_index=True)


def _draw_panel(ax, tables: pd.DataFrame, metric: str) -> None:
    """One data set's curves of ``metric``: networks (mean over seeds, band ± sd; for the
    difference to the linear model, band: the mean over seeds of the bootstrap interval's
    ends), the baselines (mean over runs: the same windows in every run) and the teacher."""
    for name in BASELINES:
        if metric == "mae_diff_vs_linear" and name == "linear":
            ax.axhline(0.0, color=BASELINE_STYLE[name][0], linestyle=":", linewidth=2.2)
            continue
        curve = tables.groupby("step")[f"{metric}_{name}"].mean()
        colour, _ = BASELINE_STYLE[name]
        ax.plot(curve.index, curve.to_numpy(), color=colour, linestyle=":", linewidth=2.2)
    for model in sort_models(tables["model"].unique()):
        runs = tables[tables["model"] == model]
        stats = runs.groupby("step")[metric].agg(["mean", "std"])
        if metric == "mae_diff_vs_linear":
            ends = runs.groupby("step")[[f"{metric}_low", f"{metric}_high"]].mean()
            colour = "black" if model == TEACHER else dale_colour(model)
            ax.fill_between(ends.index, ends[f"{metric}_low"], ends[f"{metric}_high"],
                            color=colour, alpha=0.15, linewidth=0)  # fmt: skip
        if model == TEACHER:
            ax.plot(stats.index, stats["mean"], color="black", linewidth=2.6, zorder=5)
            continue
        traits = figure_traits(model)
        ax.plot(
            stats.index,
            stats["mean"],
            color=dale_colour(model),
            linestyle=DYNAMICS_LINESTYLE[traits.dynamics],
            marker=LEARNING_MARKER[traits.learning],
            markevery=max(1, len(stats) // 6),
            markersize=4,
            linewidth=1.3,
        )
        if runs["seed"].nunique() > 1 and metric != "mae_diff_vs_linear":
            low, high = stats["mean"] - stats["std"], stats["mean"] + stats["std"]
            ax.fill_between(stats.index, low, high, color=dale_colour(model), alpha=0.12)
    ax.grid(alpha=0.3)


def _legend_handles(models: Sequence[str]) -> list[Line2D]:
    handles = [Line2D([], [], color="black", linewidth=2.6, label=model_label(TEACHER))]
    handles = handles if TEACHER in models else []
    handles += model_handles([m for m in sort_models(models) if m != TEACHER])
    for name in BASELINES:
        colour, label = BASELINE_STYLE[name]
        handles.append(
            Line2D([], [], color=colour, linestyle=":", linewidth=2.2, label=f"baseline: {label}")
        )
    return handles


def plot_forecast(
    table_paths: Sequence[str | Path],
    png_path: str | Path,
    pdf_path: str | Path,
    *,
    dpi: int = 150,
    font_size: float = 10.0,
) -> None:
    """MAE (top), pVar (middle) and MAE minus the linear baseline's (bottom, band: the 95 %
    moving-block bootstrap interval over windows) of the windowed forecasts against the
    forecast step, scored against the recorded frames, one column per data set: each network
    (mean over seeds, band ± sd; colour Dale / no Dale, line style spiking / rate, marker
    learning rule), the baselines (dotted) and, on a teacher session, the teacher (black, the
    ceiling). ``table_paths``: forecast.csv files."""
    tables = _read_tables(table_paths)
    datasets = list(dict.fromkeys(tables["dataset"]))
    apply_style(font_size)
    fig, axes = plt.subplots(
        3, len(datasets), figsize=(4.6 * len(datasets) + 3.2, 9.0), sharex="col", squeeze=False
    )
    for column, dataset in enumerate(datasets):
        subset = tables[tables["dataset"] == dataset]
        for row, (metric, label) in enumerate(METRICS):
            ax = axes[row, column]
            _draw_panel(ax, subset, metric)
            ax.set_ylabel(label if column == 0 else "")
        pvar_columns = [c for c in subset.columns if c.startswith("pvar")]
        lowest = float(np.nanmin(subset[pvar_columns].to_numpy(float)))
        axes[1, column].set_ylim(max(lowest, -1.0) - 0.05, 1.0)
        axes[2, column].set_xlabel("forecast step (frames)")
        windows = int(subset["n_windows"].iloc[0])
        axes[0, column].set_title(f"{dataset} ({windows} windows)")
    fig.legend(
        handles=_legend_handles(tables["model"].unique()),
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        frameon=False,
    )
    fig.suptitle(
        "Held-out forecasts of the recorded frames by horizon (lower MAE, higher pVar: better)"
    )
    fig.tight_layout()
    save_figure(fig, png_path, pdf_path, dpi=dpi)
