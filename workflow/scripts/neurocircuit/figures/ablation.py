"""Ablation figures: pVar ratio against the fraction of connections removed, per strategy, and
the areas under those curves with the Welch tests between groups of networks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from neurocircuit.figures.style import (
    DALE_COLOUR,
    DALE_SIGN_COLOUR,
    DYNAMICS_LINESTYLE,
    LEARNING_MARKER,
    NO_DALE_COLOUR,
    apply_style,
    dale_colour,
    model_handles,
    model_label,
    read_table,
    run_id,
    save_figure,
    sort_models,
)
from neurocircuit.models.names import TEACHER, model_traits

CURVE_COLUMNS = ("strategy", "fraction", "repeat", "pvar", "pvar_ratio")
AREA_COLUMNS = ("section", "dataset", "model", "seed", "strategy", "auc")
WELCH_COLUMNS = ("strategy", "comparison", "p", "cohens_d")
STRATEGY_ORDER = ("random", "weakest", "strongest", "hubs")
RATIO_FLOOR = -1.0
"""Lowest pVar ratio (and area) drawn: a network scoring below −1 × its intact pVar is broken
either way, and one such curve would otherwise squash all the others."""
STRATEGY_TITLES = {
    "random": "random",
    "weakest": "weakest first",
    "strongest": "strongest first",
    "hubs": "hubs first",
}


def _ordered_strategies(values) -> list[str]:
    present = list(dict.fromkeys(values))
    return [s for s in STRATEGY_ORDER if s in present] + [
        s for s in present if s not in STRATEGY_ORDER
    ]


def _hide_unused(axes: np.ndarray, n_used: int) -> None:
    """Hide the grid's panels after the first ``n_used`` (row-major)."""
    for ax in axes.flat[n_used:]:
        ax.set_visible(False)


def read_ablation_curves(curve_csvs: Sequence[str | Path]) -> pd.DataFrame:
    """All per-run ablation tables (``results/ablation/{dataset}/{model}/seed{seed}.csv``) in one
    table with dataset, model and seed columns added."""
    if not curve_csvs:
        raise ValueError("ablation figures: no ablation curve files given")
    frames = []
    for path in curve_csvs:
        run = run_id(path)
        table = read_table(path, CURVE_COLUMNS)
        frames.append(table.assign(dataset=run.dataset, model=run.model, seed=run.seed))
    return pd.concat(frames, ignore_index=True)


def _strategy_curves(ax, per_seed: pd.DataFrame, models: Sequence[str]) -> int:
    """One strategy's panel: per model the mean pVar ratio over seeds against the fraction
    removed, with a ± sd band; means below RATIO_FLOOR are drawn at it. Returns how many were."""
    n_clipped = 0
    for model in models:
        rows = per_seed[per_seed["model"] == model]
        if rows.empty:
            continue
        stats = rows.groupby("fraction")["pvar_ratio"].agg(["mean", "std"]).fillna(0.0)
        n_clipped += int((stats["mean"] < RATIO_FLOOR).sum())
        stats = stats.clip(lower=[RATIO_FLOOR, 0.0], axis=1)
        traits = model_traits(model)
        colour = dale_colour(model)
        ax.plot(
            stats.index,
            stats["mean"],
            color=colour,
            linestyle=DYNAMICS_LINESTYLE[traits.dynamics],
            marker=LEARNING_MARKER[traits.learning],
            markersize=4,
            linewidth=2.5 if model == TEACHER else 1.5,
        )
        ax.fill_between(
            stats.index,
            stats["mean"] - stats["std"],
            stats["mean"] + stats["std"],
            color=colour,
            alpha=0.12,
            linewidth=0,
        )
    return n_clipped


def plot_ablation_curves(
    curve_csvs: Sequence[str | Path],
    png_path: str | Path,
    pdf_path: str | Path,
    *,
    dpi: int = 150,
    font_size: float = 10.0,
) -> None:
    """pVar of the ablated network relative to the intact one against the fraction of recurrent
    connections removed: one panel per strategy, one line per model (mean over seeds, random
    repeats averaged first; band ± sd over seeds). Colour: Dale (vermillion) vs no Dale (blue);
    line style: spiking (solid) vs rate (dashed); marker: learning rule."""
    curves = read_ablation_curves(curve_csvs)
    strategies = _ordered_strategies(curves["strategy"])
    models = sort_models(curves["model"])
    apply_style(font_size)
    n_cols = min(len(strategies), 4)
    n_rows = int(np.ceil(len(strategies) / n_cols))
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.6 * n_cols, 3.4 * n_rows + 0.8), squeeze=False, sharey=True
    )
    per_seed = curves.groupby(["model", "seed", "strategy", "fraction"], as_index=False)[
        "pvar_ratio"
    ].mean()
    n_clipped = 0
    for index, strategy in enumerate(strategies):
        ax = axes[index // n_cols, index % n_cols]
        n_clipped += _strategy_curves(ax, per_seed[per_seed["strategy"] == strategy], models)
        ax.axhline(1.0, color="#777777", linewidth=0.8, linestyle=":")
        ax.set_title(STRATEGY_TITLES.get(strategy, strategy))
        ax.set_xlabel("fraction of connections removed")
        if index % n_cols == 0:
            ax.set_ylabel("pVar ablated / pVar intact")
        ax.grid(alpha=0.3)
    _hide_unused(axes, len(strategies))
    fig.legend(
        handles=model_handles(models),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=min(4, len(models)),
        frameon=False,
        title="model (colour: Dale / no Dale; line: spiking / rate; marker: learning rule)",
    )
    low, high = axes[0, 0].get_ylim()
    axes[0, 0].set_ylim(max(low, RATIO_FLOOR - 0.05), max(high, 1.05))
    datasets = ", ".join(sorted(set(curves["dataset"])))
    clipped = (
        f"; {n_clipped} mean(s) below {RATIO_FLOOR:g} drawn at {RATIO_FLOOR:g}" if n_clipped else ""
    )
    fig.suptitle(f"Ablation resilience on {datasets} (mean ± sd over seeds{clipped})")
    fig.tight_layout()
    save_figure(fig, png_path, pdf_path, dpi)


def _format_test(comparison: str, p: float, cohens_d: float) -> str:
    if not np.isfinite(p):
        return f"{comparison}: not testable (< 2 runs per group)"
    p_text = "p<0.001" if p < 0.001 else f"p={p:.3f}"
    return f"{comparison}: {p_text}, d={cohens_d:.2f}"


def _read_areas(summary_csv: str | Path, dataset: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary's "auc" rows and its "welch" rows (of ``dataset`` when given), checked."""
    summary = read_table(summary_csv, AREA_COLUMNS)
    areas = summary[summary["section"] == "auc"]
    if dataset is not None:
        areas = areas[areas["dataset"] == dataset]
    if areas.empty:
        raise ValueError(
            f"{summary_csv}: no 'auc' rows" + (f" for dataset {dataset}" if dataset else "")
        )
    welch = summary[summary["section"] == "welch"]
    if not welch.empty:
        missing = [c for c in WELCH_COLUMNS if c not in welch.columns]
        if missing:
            raise ValueError(f"{summary_csv}: welch rows lack column(s) {', '.join(missing)}")
        if dataset is not None:
            welch = welch[welch["dataset"] == dataset]
    return areas, welch


def _area_bars(ax, rows: pd.DataFrame, models: Sequence[str], rng: np.random.Generator) -> None:
    """One strategy's panel: per model a bar at the mean area (hatched for rate models) and one
    jittered dot per seed, marker by learning rule."""
    for xi, model in enumerate(models):
        values = rows.loc[rows["model"] == model, "auc"].astype(float).to_numpy()
        if values.size == 0:
            continue
        ax.bar(
            xi,
            values.mean(),
            color=dale_colour(model),
            alpha=0.45,
            edgecolor="black",
            linewidth=0.6,
            hatch="" if model_traits(model).dynamics == "spiking" else "//",
        )
        jitter = rng.uniform(-0.15, 0.15, values.size)
        ax.plot(
            xi + jitter,
            values,
            marker=LEARNING_MARKER[model_traits(model).learning],
            linestyle="none",
            color=dale_colour(model),
            markeredgecolor="black",
            markersize=5,
        )


def _area_panel_labels(
    ax, strategy: str, models: Sequence[str], tests: pd.DataFrame, first_column: bool, font_size
) -> None:
    """Model names under the bars, the y label on the first column, and the strategy's title
    with its Welch tests (one line per comparison) under it."""
    ax.set_xticks(
        np.arange(len(models)),
        [model_label(m) for m in models],
        rotation=40,
        ha="right",
        rotation_mode="anchor",
    )
    if first_column:
        ax.set_ylabel("area under pVar-ratio curve")
    ax.grid(axis="y", alpha=0.3)
    lines = [
        _format_test(row.comparison, float(row.p), float(row.cohens_d))
        for row in tests.itertuples()
    ]
    title = STRATEGY_TITLES.get(strategy, strategy)
    if lines:
        ax.set_title(f"{title}\n" + "\n".join(lines), fontsize=font_size - 0.5)
    else:
        ax.set_title(title)


def _area_limits_and_title(fig, ax, areas: pd.DataFrame, dataset: str | None) -> None:
    """Shared y range (0 to 1 at least, never below RATIO_FLOOR) and the figure's title, which
    counts the areas left off the axis."""
    values = areas["auc"].astype(float)
    top = max(1.05, float(values.max()) + 0.05)
    bottom = max(min(0.0, float(values.min())), RATIO_FLOOR) - 0.05
    ax.set_ylim(bottom, top)
    title_dataset = dataset or ", ".join(sorted(set(areas["dataset"])))
    n_off = int((values < RATIO_FLOOR).sum())
    off_axis = f"\n{n_off} area(s) below {RATIO_FLOOR:g} are off the axis" if n_off else ""
    fig.suptitle(
        f"Ablation: area under the curves on {title_dataset} "
        f"(bar: mean, dots: seeds; hatched: rate){off_axis}"
    )


def _area_legend(fig, models: Sequence[str]) -> None:
    """Legend under the figure: the Dale groups present, the rate hatch, the learning rules
    present (as seed markers)."""
    handles = [
        Patch(facecolor=colour, alpha=0.45, edgecolor="black", label=label)
        for colour, label in (
            (DALE_COLOUR, "Dale"),
            (DALE_SIGN_COLOUR, "Dale, learned sign"),
            (NO_DALE_COLOUR, "no Dale"),
        )
        if label in {model_traits(m).dale_label for m in models}
    ]
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="//", label="rate"))
    handles += [
        Line2D(
            [],
            [],
            marker=LEARNING_MARKER[learning],
            linestyle="none",
            color="#999999",
            markeredgecolor="black",
            label=f"seed, {name}",
        )
        for learning, name in (("eprop", "e-prop"), ("bptt", "BPTT"), ("tbptt", "TBPTT"))
        if learning in {model_traits(m).learning for m in models}
    ]
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=len(handles),
        frameon=False,
        title="Welch: d > 0 when the first group keeps more of its pVar",
    )


def plot_ablation_areas(
    summary_csv: str | Path,
    png_path: str | Path,
    pdf_path: str | Path,
    *,
    dataset: str | None = None,
    dpi: int = 150,
    font_size: float = 10.0,
) -> None:
    """Area under each pVar-ratio curve (1 = no loss at any fraction) per strategy and model, one
    dot per seed and a bar for the mean, with Welch's tests (Dale vs no Dale, spiking vs rate:
    p and Cohen's d) under each panel.

    ``summary_csv`` is ``results/ablation/summary.csv``: rows with ``section == "auc"`` give
    (dataset, model, seed, strategy, auc); rows with ``section == "welch"`` give (dataset,
    strategy, comparison, p, cohens_d). ``dataset`` picks one data set when several are present.
    """
    areas, welch = _read_areas(summary_csv, dataset)
    strategies = _ordered_strategies(areas["strategy"])
    models = sort_models(areas["model"])
    apply_style(font_size)
    # four panels in a row while they stay narrow, else a 2 x 2 grid (bars per model)
    n_cols = min(len(strategies), 4 if len(models) <= 4 else 2)
    n_rows = int(np.ceil(len(strategies) / n_cols))
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        squeeze=False,
        sharey=True,
        figsize=(max(3.6, 0.55 * len(models) + 1.6) * n_cols, 3.8 * n_rows + 0.9),
    )
    rng = np.random.default_rng(0)
    for index, strategy in enumerate(strategies):
        ax = axes[index // n_cols, index % n_cols]
        _area_bars(ax, areas[areas["strategy"] == strategy], models, rng)
        tests = welch[welch["strategy"] == strategy] if not welch.empty else welch
        _area_panel_labels(ax, strategy, models, tests, index % n_cols == 0, font_size)
    _hide_unused(axes, len(strategies))
    _area_limits_and_title(fig, axes[0, 0], areas, dataset)
    _area_legend(fig, models)
    fig.tight_layout()
    save_figure(fig, png_path, pdf_path, dpi)
