"""Ablation figures: pVar ratio (and the inhibitory share of what was removed) against the
fraction of connections removed, per strategy; and the areas under those curves, per model and
as single-factor comparisons (two models that differ in one factor, seeds as replicates)."""

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
    LEARNING_NAMES,
    NO_DALE_COLOUR,
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
from neurocircuit.models.names import TEACHER

CURVE_COLUMNS = ("strategy", "fraction", "repeat", "pvar", "pvar_ratio")
AREA_COLUMNS = ("section", "dataset", "model", "seed", "strategy", "auc")
WELCH_COLUMNS = (
    "strategy", "metric", "comparison", "fixed", "group_a", "group_b", "model_a", "model_b",
    "n_a", "n_b", "p_holm", "cohens_d", "d_ci_low", "d_ci_high",
)  # fmt: skip
STRATEGY_ORDER = (
    "random", "weakest", "strongest", "hubs", "weakest_global", "strongest_global",
    "hubs_global", "excitatory_only", "inhibitory_only",
)  # fmt: skip
COMPARISON_ORDER = (
    "dale vs nodale", "dalesign vs nodale", "dale vs dalesign", "spiking vs rate",
    "bptt vs tbptt", "bptt vs eprop", "bptt vs force", "tbptt vs eprop", "tbptt vs force",
    "eprop vs force",
)  # fmt: skip
RATIO_FLOOR = -1.0
"""Lowest pVar ratio (and area) drawn: a network scoring below −1 × its intact pVar is broken
either way, and one such curve would otherwise squash all the others."""
STRATEGY_TITLES = {
    "random": "random",
    "weakest": "weakest first (per class)",
    "strongest": "strongest first (per class)",
    "hubs": "hubs first (per class)",
    "weakest_global": "weakest first (global |W|)",
    "strongest_global": "strongest first (global |W|)",
    "hubs_global": "hubs first (global |W|)",
    "excitatory_only": "excitatory only (random)",
    "inhibitory_only": "inhibitory only (random)",
}
LEVEL_NAMES = {
    "dale": "Dale",
    "dalesign": "Dale, learned sign",
    "nodale": "no Dale",
    "bptt": "BPTT",
    "tbptt": "TBPTT",
    "eprop": "e-prop",
    "force": "FORCE",
    "windows": "on windows",
    "rollout": "one rollout",
}


def _ordered(values, order: Sequence[str]) -> list[str]:
    present = list(dict.fromkeys(values))
    return [s for s in order if s in present] + [s for s in present if s not in order]


def _marker(model: str) -> str:
    """The learning rule's marker (the "unknown" one for a rule the style does not list)."""
    return LEARNING_MARKER.get(figure_traits(model).learning, LEARNING_MARKER["unknown"])


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


def _model_line(ax, model: str, stats: pd.DataFrame) -> None:
    """Mean ± sd of one model against the fraction, in the line figures' code."""
    traits = figure_traits(model)
    colour = dale_colour(model)
    ax.plot(
        stats.index,
        stats["mean"],
        color=colour,
        linestyle=DYNAMICS_LINESTYLE[traits.dynamics],
        marker=_marker(model),
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


def _strategy_curves(ax, per_seed: pd.DataFrame, models: Sequence[str], column: str) -> int:
    """One strategy's panel: per model the mean of ``column`` over seeds against the fraction
    removed, with a ± sd band; means below RATIO_FLOOR are drawn at it. Returns how many were."""
    n_clipped = 0
    for model in models:
        rows = per_seed[(per_seed["model"] == model) & per_seed[column].notna()]
        if rows.empty:
            continue
        stats = rows.groupby("fraction")[column].agg(["mean", "std"]).fillna(0.0)
        n_clipped += int((stats["mean"] < RATIO_FLOOR).sum())
        _model_line(ax, model, stats.clip(lower=[RATIO_FLOOR, 0.0], axis=1))
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
    repeats averaged first; band ± sd over seeds). Under each, when the tables have it, the
    inhibitory share of the removed |W| (0: only excitatory connections removed, 1: only
    inhibitory). Colour: Dale (vermillion) vs no Dale (blue); line style: spiking (solid) vs rate
    (dashed); marker: learning rule."""
    curves = read_ablation_curves(curve_csvs)
    has_share = "inhibitory_share" in curves and curves["inhibitory_share"].notna().any()
    strategies = _ordered(curves["strategy"], STRATEGY_ORDER)
    models = sort_models(curves["model"])
    apply_style(font_size)
    n_cols = min(len(strategies), 4)
    n_rows = int(np.ceil(len(strategies) / n_cols))
    heights = [3.0, 1.3] if has_share else [3.0]
    fig = plt.figure(figsize=(3.6 * n_cols, sum(heights) * n_rows + 1.2))
    grid = fig.add_gridspec(n_rows, n_cols)
    columns = ["pvar_ratio", "inhibitory_share"] if has_share else ["pvar_ratio"]
    per_seed = curves.groupby(["model", "seed", "strategy", "fraction"], as_index=False)[
        columns
    ].mean()
    n_clipped = 0
    first_ratio = first_share = None
    for index, strategy in enumerate(strategies):
        row, col = divmod(index, n_cols)
        rows = per_seed[per_seed["strategy"] == strategy]
        cell = grid[row, col].subgridspec(len(heights), 1, height_ratios=heights, hspace=0.08)
        ax = fig.add_subplot(cell[0], sharey=first_ratio)
        first_ratio = first_ratio or ax
        n_clipped += _strategy_curves(ax, rows, models, "pvar_ratio")
        ax.axhline(1.0, color="#777777", linewidth=0.8, linestyle=":")
        ax.set_title(STRATEGY_TITLES.get(strategy, strategy))
        ax.grid(alpha=0.3)
        if col == 0:
            ax.set_ylabel("pVar ablated / pVar intact")
        if has_share:
            ax.tick_params(labelbottom=False)
            ax = fig.add_subplot(cell[1], sharex=ax, sharey=first_share)
            first_share = first_share or ax
            _strategy_curves(ax, rows[rows["fraction"] > 0], models, "inhibitory_share")
            ax.set_ylim(-0.05, 1.05)
            ax.set_yticks([0, 0.5, 1])
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel("inhibitory share\nof removed |W|")
        ax.set_xlabel("fraction of connections removed")
    fig.legend(
        handles=model_handles(models),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=min(4, len(models)),
        frameon=False,
        title="model (colour: Dale / no Dale; line: spiking / rate; marker: learning rule)",
    )
    low, high = first_ratio.get_ylim()
    first_ratio.set_ylim(max(low, RATIO_FLOOR - 0.05), max(high, 1.05))
    datasets = ", ".join(sorted(set(curves["dataset"])))
    clipped = (
        f"; {n_clipped} mean(s) below {RATIO_FLOOR:g} drawn at {RATIO_FLOOR:g}" if n_clipped else ""
    )
    fig.suptitle(f"Ablation resilience on {datasets} (mean ± sd over seeds{clipped})")
    fig.tight_layout()
    save_figure(fig, png_path, pdf_path, dpi)


# ---------------------------------------------------------------- areas
def _read_areas(
    summary_csv: str | Path, dataset: str | None, metric: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary's "auc" rows and its "welch" rows of ``metric`` (of ``dataset`` when given),
    checked."""
    summary = read_table(summary_csv, AREA_COLUMNS)
    if metric not in summary.columns:
        raise ValueError(f"{summary_csv}: no column {metric}")
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
            raise ValueError(
                f"{summary_csv}: welch rows lack column(s) {', '.join(missing)} (written by an "
                "older ablation_summary: rerun it)"
            )
        welch = welch[welch["metric"] == metric]
        if dataset is not None:
            welch = welch[welch["dataset"] == dataset]
    return areas, welch


def _area_bars(ax, rows: pd.DataFrame, models: Sequence[str], metric: str, rng) -> None:
    """Per model a bar at the mean area (hatched for rate models) and one jittered dot per seed,
    marker by learning rule."""
    for xi, model in enumerate(models):
        values = rows.loc[rows["model"] == model, metric].astype(float).to_numpy()
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        ax.bar(
            xi,
            values.mean(),
            color=dale_colour(model),
            alpha=0.45,
            edgecolor="black",
            linewidth=0.6,
            hatch="" if figure_traits(model).dynamics == "spiking" else "//",
        )
        ax.plot(
            xi + rng.uniform(-0.15, 0.15, values.size),
            values,
            marker=_marker(model),
            linestyle="none",
            color=dale_colour(model),
            markeredgecolor="black",
            markersize=5,
        )
    ax.set_xticks(
        np.arange(len(models)),
        [model_label(m) for m in models],
        rotation=40,
        ha="right",
        rotation_mode="anchor",
    )


def _short(value: float) -> str:
    """d for a label: one decimal below 10, whole numbers below 10,000, else powers of ten
    (bootstrap bounds of d explode when a resample of 3 seeds has almost no spread)."""
    if abs(value) < 10:
        return f"{value:.1f}"
    return f"{value:.0f}" if abs(value) < 1e4 else f"{value:.0e}"


def _format_test(row) -> str:
    """Cohen's d, its 95 % interval and the Holm-corrected p, or why there is no test."""
    if not np.isfinite(row.p_holm):
        return f"n = {int(row.n_a)}, {int(row.n_b)}\nno test\n(< 3 seeds)"
    p = "p<0.001" if row.p_holm < 0.001 else f"p={row.p_holm:.3f}"
    interval = f"[{_short(row.d_ci_low)}, {_short(row.d_ci_high)}]"
    return f"d={_short(row.cohens_d)}\n{interval}\n{p}"


def _fixed_label(fixed: str) -> str:
    """The levels of a ``fixed`` label, one per line: "dynamics=rate, method=bptt" -> rate, BPTT."""
    levels = [part.split("=", 1)[-1] for part in str(fixed).split(", ")]
    return "\n".join(LEVEL_NAMES.get(level, level) for level in levels)


def _comparison_panel(ax, tests: pd.DataFrame, areas: pd.DataFrame, metric: str, rng) -> None:
    """One strategy's single-factor comparison: per combination of the fixed factors (x), the
    seeds of model a (filled, left) and model b (open, right), their means joined by a line, and
    the test (Cohen's d [95 % CI], Holm-corrected p) above."""
    for xi, row in enumerate(tests.itertuples()):
        means = []
        for offset, model, filled in ((-0.18, row.model_a, True), (0.18, row.model_b, False)):
            values = areas.loc[areas["model"] == model, metric].astype(float).to_numpy()
            values = values[np.isfinite(values)]
            colour = dale_colour(model)
            ax.plot(
                xi + offset + rng.uniform(-0.05, 0.05, values.size),
                values,
                marker=_marker(model),
                linestyle="none",
                color=colour,
                markerfacecolor=colour if filled else "white",
                markeredgecolor=colour if not filled else "black",
                markersize=5,
            )
            means.append(values.mean() if values.size else np.nan)
        ax.plot([xi - 0.18, xi + 0.18], means, color="black", linewidth=1.0, marker="_", ms=14)
        ax.annotate(
            _format_test(row),
            (xi, 1.0),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="top",
            fontsize=plt.rcParams["font.size"] - 2.5,
        )
    ax.set_xticks(np.arange(len(tests)), [_fixed_label(f) for f in tests["fixed"]])
    ax.set_xlim(-0.6, max(len(tests), 1) - 0.4)


def _area_legend(fig, models: Sequence[str], has_teacher: bool, has_tests: bool) -> None:
    """Legend under the figure: the Dale groups present, the rate hatch, the learning rules
    present (as seed markers), and with comparisons their two sides and the teacher's line."""
    handles = [
        Patch(facecolor=colour, alpha=0.45, edgecolor="black", label=label)
        for colour, label in (
            (DALE_COLOUR, "Dale"),
            (DALE_SIGN_COLOUR, "Dale, learned sign"),
            (NO_DALE_COLOUR, "no Dale"),
        )
        if label in {figure_traits(m).dale_label for m in models}
    ]
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="//", label="rate"))
    handles += [
        Line2D([], [], marker=LEARNING_MARKER.get(learning, LEARNING_MARKER["unknown"]),
               linestyle="none", color="#999999", markeredgecolor="black", label=f"seed, {name}")
        for learning, name in LEARNING_NAMES.items()
        if learning in {figure_traits(m).learning for m in models}
    ]  # fmt: skip
    if has_tests:
        handles += [
            Line2D([], [], marker="o", linestyle="none", color="#777777",
                   markeredgecolor="black", label="first group (left)"),
            Line2D([], [], marker="o", linestyle="none", color="#777777",
                   markerfacecolor="white", label="second group (right)"),
        ]  # fmt: skip
        if has_teacher:
            handles.append(Line2D([], [], color="black", linestyle=":", label="teacher"))
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=min(len(handles), 6 if has_tests else 3),
        frameon=False,
        title=(
            "Welch's t between two models that differ in one factor, seeds as replicates;\n"
            "d > 0: the first keeps more; p Holm-corrected over every test of summary.csv"
            if has_tests
            else "bar: mean over seeds; dots: seeds"
        ),
    )


def plot_ablation_areas(
    summary_csv: str | Path,
    png_path: str | Path,
    pdf_path: str | Path,
    *,
    dataset: str | None = None,
    metric: str = "auc",
    dpi: int = 150,
    font_size: float = 10.0,
) -> None:
    """Areas under the ablation curves (``metric``: auc, the pVar ratio, or auc_gain_retained;
    1 = no loss at any fraction), one row per strategy. First column: per model a bar at the
    mean and one dot per seed. Then one column per single-factor comparison of the summary
    (e.g. Dale vs no Dale): per combination of the other factors, the two models' seeds side by
    side, their means joined, with Cohen's d, its bootstrap 95 % interval and the Holm-corrected
    Welch p above. A synthetic session's teacher is a black bar and a dotted line.

    ``summary_csv`` is ``results/ablation/summary.csv`` (neurocircuit.ablation.
    summarise_ablations); ``dataset`` picks one data set when several are present.
    """
    areas, welch = _read_areas(summary_csv, dataset, metric)
    strategies = _ordered(areas["strategy"], STRATEGY_ORDER)
    models = sort_models(areas["model"])
    comparisons = _ordered(welch["comparison"], COMPARISON_ORDER) if not welch.empty else []
    n_fixed = int(welch.groupby("comparison")["fixed"].nunique().max()) if comparisons else 1
    apply_style(font_size)
    widths = [max(3.4, 0.5 * len(models) + 1.4)] + [max(2.6, 1.05 * n_fixed + 0.8)] * len(
        comparisons
    )
    fig, axes = plt.subplots(
        len(strategies),
        1 + len(comparisons),
        squeeze=False,
        sharey=True,
        figsize=(sum(widths), 3.2 * len(strategies) + 1.6),
        gridspec_kw={"width_ratios": widths},
    )
    rng = np.random.default_rng(0)
    teacher = areas[areas["model"] == TEACHER]
    for r, strategy in enumerate(strategies):
        rows = areas[areas["strategy"] == strategy]
        _area_bars(axes[r, 0], rows, models, metric, rng)
        axes[r, 0].tick_params(labelbottom=r == len(strategies) - 1)  # the same models each row
        axes[r, 0].set_ylabel(f"{STRATEGY_TITLES.get(strategy, strategy)}\narea ({metric})")
        for c, comparison in enumerate(comparisons, start=1):
            ax = axes[r, c]
            tests = welch[(welch["strategy"] == strategy) & (welch["comparison"] == comparison)]
            _comparison_panel(ax, tests, rows, metric, rng)
            for value in teacher.loc[teacher["strategy"] == strategy, metric].dropna():
                ax.axhline(value, color="black", linestyle=":", linewidth=1.0)
        for ax in axes[r]:
            ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_title("per model")
    for c, comparison in enumerate(comparisons, start=1):
        first = welch.loc[welch["comparison"] == comparison].iloc[0]
        a, b = (LEVEL_NAMES.get(level, level) for level in (first.group_a, first.group_b))
        axes[0, c].set_title(f"{a} (left) vs {b} (right)")
    values = areas[metric].astype(float)
    axes[0, 0].set_ylim(
        max(min(0.0, float(values.min())), RATIO_FLOOR) - 0.05,
        max(1.05, float(values.max()) + 0.05) + 0.4 * bool(comparisons),
    )
    title_dataset = dataset or ", ".join(sorted(set(areas["dataset"])))
    n_off = int((values < RATIO_FLOOR).sum())
    notes = [f"{n_off} area(s) below {RATIO_FLOOR:g} are off the axis"] if n_off else []
    if not comparisons:
        notes.append("no two models differ in one factor only: no comparisons")
    fig.suptitle(
        f"Ablation: area under the curves on {title_dataset} ({metric})"
        + "".join(f"\n{note}" for note in notes)
    )
    _area_legend(fig, models, not teacher.empty, bool(comparisons))
    fig.tight_layout(rect=(0, 0, 1, 1 - (0.5 + 0.25 * len(notes)) / fig.get_figheight()))
    save_figure(fig, png_path, pdf_path, dpi)
