"""The resilience figure as the paper draws it (NeuroTorch's ``resilience.py``): per removal
strategy, the curves of each group (mean ± 95 % CI over networks, normal approximation) and,
beside them, violins of the areas under those curves with the seeds as points and the primary
tests' Holm p. One function draws the paper's measure and the controlled one (the title says
which).

Tables (neurocircuit.ablation.resilience_stats): ``curves`` (dataset, model, seed, strategy,
control, level, repeat, pvar_ratio, pvar_per_neuron_median), ``areas`` (dataset, model, seed,
strategy, control, score, area) and ``tests`` (its :func:`resilience_tests`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from neurocircuit.ablation.resilience_stats import PAPER_MEASURE, Measure
from neurocircuit.figures.style import (
    DYNAMICS_LINESTYLE,
    apply_style,
    dale_colour,
    figure_traits,
    model_label,
    save_figure,
    sort_models,
)
from neurocircuit.models.names import TEACHER

X_LIMITS = {"weakest_global": (0.0, 1.0), "random": (0.0, 0.6)}
"""The paper's x-limits: all of the ordered removal, the first 60 % of the random one."""
STRATEGY_TITLES = {
    "weakest_global": "smallest |w| first",
    "random": "random removal",
    "weakest": "smallest |w| first, classes balanced",
}
SCORE_LABELS = {
    "ratio": "pVar / intact pVar",
    "per_neuron": "median per-neuron pVar / intact",
}
CONTROL_LABELS = {"none": "no control", "mean_drive": "mean drive restored"}
Y_FLOOR = -0.5
"""Lowest value drawn on the curves' axis: a mean below it (a network that diverges) would
squash every other curve; the panel says how many points fall below."""
Y_CEILING = 1.6
"""Highest value drawn: the band of a group whose few networks disagree (n = 3) would
otherwise stretch the axis far above the curves."""
Z_95 = 1.959963984540054
"""The normal 97.5 % quantile: the paper's 95 % interval is mean ± 1.96 · sd / sqrt(n)."""


def _score_curves(curves: pd.DataFrame, score: str) -> pd.DataFrame:
    """Per network (model, seed) and level its score, random repeats averaged first: the pVar
    ratio, or the median per-neuron pVar over its own value at level 0 (NaN where that is <= 0).
    """
    keys = ["model", "seed", "level"]
    if score == "ratio":
        return (
            curves.groupby(keys, as_index=False)["pvar_ratio"]
            .mean()
            .rename(columns={"pvar_ratio": "value"})
        )
    per_level = curves.groupby(keys, as_index=False)["pvar_per_neuron_median"].mean()
    intact = per_level[np.isclose(per_level["level"], 0.0)].set_index(["model", "seed"])
    base = intact["pvar_per_neuron_median"].where(intact["pvar_per_neuron_median"] > 0)
    joined = per_level.join(base.rename("intact"), on=["model", "seed"])
    joined["value"] = joined["pvar_per_neuron_median"] / joined["intact"]
    return joined[keys + ["value"]]


def _curve_panel(ax, per_network, models: Sequence[str], x_limits) -> tuple[int, float]:
    """Each model's mean ± 95 % CI (normal approximation over networks) against the fraction
    removed; the teacher as a black line. Returns how many means within ``x_limits`` fall
    below Y_FLOOR, and the lowest band edge drawn within them."""
    n_below, lowest = 0, 0.0
    for model in models:
        rows = per_network[(per_network["model"] == model) & per_network["value"].notna()]
        if rows.empty:
            continue
        stats = rows.groupby("level")["value"].agg(["mean", "std", "count"])
        half = Z_95 * stats["std"].fillna(0.0) / np.sqrt(stats["count"])
        shown = stats[(stats.index >= x_limits[0]) & (stats.index <= x_limits[1])]
        off_axis = shown.index[shown["mean"] < Y_FLOOR]
        n_below += len(off_axis)
        if not shown.empty:
            lowest = min(lowest, float((shown["mean"] - half[shown.index]).min()))
        colour = dale_colour(model)
        style = DYNAMICS_LINESTYLE[figure_traits(model).dynamics]
        width = 2.5 if model == TEACHER else 1.6
        ax.plot(stats.index, stats["mean"], color=colour, linestyle=style, linewidth=width)
        ax.fill_between(
            stats.index, stats["mean"] - half, stats["mean"] + half, color=colour, alpha=0.18,
            linewidth=0,
        )  # fmt: skip
        _floor_tick(ax, stats["mean"], colour, x_limits)
        if len(off_axis):  # where the mean leaves the axis: a triangle on the floor
            ax.plot([off_axis[0]], [Y_FLOOR], marker="v", color=colour, markersize=9,
                    markeredgecolor="black", clip_on=False, zorder=5)  # fmt: skip
    return n_below, lowest


def _floor_tick(ax, means: pd.Series, colour, x_limits) -> None:
    """A short bar at the panel's right edge at the model's mean with every recurrent
    connection removed (level 1): the floor that an area is read against (above Y_FLOOR)."""
    full = means[np.isclose(means.index.to_numpy(dtype=float), 1.0)]
    if full.empty or not full.iloc[0] >= Y_FLOOR:
        return
    span = x_limits[1] - x_limits[0]
    ax.plot([x_limits[1] - 0.04 * span, x_limits[1]], [full.iloc[0]] * 2, color=colour,
            linewidth=4, solid_capstyle="butt", alpha=0.8)  # fmt: skip


def _strategy_curves(ax, per_network, models: Sequence[str], strategy: str, score: str) -> None:
    """The curve panel of one strategy: :func:`_curve_panel` within the paper's x-limits, the
    y-axis from Y_FLOOR (or the lowest band) to above 1, and how many means fall off it."""
    x_limits = X_LIMITS.get(strategy, (0.0, 1.0))
    n_below, lowest = _curve_panel(ax, per_network, models, x_limits)
    ax.axhline(1.0, color="#777777", linewidth=0.8, linestyle=":")
    ax.axhline(0.0, color="#777777", linewidth=0.8)
    ax.set_xlim(*x_limits)
    ax.set_ylim(max(lowest - 0.05, Y_FLOOR), min(max(ax.get_ylim()[1], 1.1), Y_CEILING))
    note = f" ({n_below} mean(s) below {Y_FLOOR:g}, from the ▼ on)" if n_below else ""
    ax.set_title(STRATEGY_TITLES.get(strategy, strategy) + note)
    ax.set_ylabel(SCORE_LABELS.get(score, score))
    ax.set_xlabel("fraction of connections removed")
    ax.grid(alpha=0.3)


def _format_p(p: float) -> str:
    if not np.isfinite(p):
        return "no test"
    return "Holm p < 0.001" if p < 0.001 else f"Holm p = {p:.3f}"


def _violin_panel(ax, areas: pd.DataFrame, models: Sequence[str], tests: pd.DataFrame, rng):
    """Violins of each model's areas (seeds as points, mean as a black bar), the teacher as a
    dotted line, and a bracket with the Holm p over each primary test."""
    positions = {model: i for i, model in enumerate(models)}
    top = -np.inf
    for model, x in positions.items():
        values = areas.loc[areas["model"] == model, "area"].astype(float).to_numpy()
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        top = max(top, values.max())
        colour = dale_colour(model)
        if values.size > 1 and np.ptp(values) > 0:
            body = ax.violinplot(values, [x], widths=0.8, showextrema=False)["bodies"][0]
            body.set(facecolor=colour, edgecolor=colour, alpha=0.3)
        jitter = rng.uniform(-0.12, 0.12, values.size)
        ax.plot(x + jitter, values, "o", color=colour, markeredgecolor="black", markersize=4)
        ax.plot([x - 0.25, x + 0.25], [values.mean()] * 2, color="black", linewidth=1.5)
    for value in areas.loc[areas["model"] == TEACHER, "area"].dropna():
        ax.axhline(value, color="black", linestyle=":", linewidth=1.2)
        top = max(top, value)
    top = top if np.isfinite(top) else 1.0
    step = 0.09 * max(top - min(0.0, ax.get_ylim()[0]), 0.5)
    level = top + step
    for row in tests.itertuples():
        if row.model_a not in positions or row.model_b not in positions:
            continue
        x0, x1 = sorted((positions[row.model_a], positions[row.model_b]))
        ax.plot([x0, x0, x1, x1], [level - step / 3, level, level, level - step / 3], color="black",
                linewidth=0.8)  # fmt: skip
        text = f"{_format_p(row.p_holm)} (n = {row.n_a}, {row.n_b})"
        ax.text((x0 + x1) / 2, level, text, ha="center", va="bottom",
                fontsize=plt.rcParams["font.size"] - 2)  # fmt: skip
        level += 1.3 * step
    ax.set_ylim(top=level + 0.3 * step)
    labels = [model_label(m).replace(", ", "\n") for m in models]
    ax.set_xticks(np.arange(len(models)), labels, fontsize=plt.rcParams["font.size"] - 2)
    ax.set_xlim(-0.6, len(models) - 0.4)


def _measure_title(measure: Measure, dataset: str) -> str:
    which = "the paper's measure" if measure == PAPER_MEASURE else f"{measure.name} measure"
    return (
        f"Resilience on {dataset}: {which} ({CONTROL_LABELS.get(measure.control, measure.control)}"
        f", {SCORE_LABELS.get(measure.score, measure.score)})"
    )


def plot_resilience(
    curves: pd.DataFrame,
    areas: pd.DataFrame,
    tests: pd.DataFrame,
    measure: Measure,
    png_path: str | Path,
    pdf_path: str | Path,
    *,
    strategies: Sequence[str] = ("weakest_global", "random"),
    dataset: str | None = None,
    dpi: int = 150,
    font_size: float = 10.0,
) -> None:
    """The paper-style figure of one ``measure`` (control and score) on one data set (the only
    one in the tables when ``dataset`` is None): a row per strategy with the curves (mean ±
    95 % CI over networks, repeats averaged first; x-limits :data:`X_LIMITS`) and the violins of
    the areas with the primary tests of that strategy and measure (``tests``' rows with family
    "primary") annotated with their Holm p. Colour: Dale (vermillion) / no Dale (blue); line:
    spiking (solid) / rate (dashed); the teacher, when present, in black."""
    datasets = sorted(set(curves["dataset"]))
    dataset = dataset or (datasets[0] if len(datasets) == 1 else None)
    if dataset is None or dataset not in datasets:
        raise ValueError(f"resilience figure: pick one data set of {', '.join(datasets)}")
    curves = curves[(curves["dataset"] == dataset) & (curves["control"] == measure.control)]
    areas = areas[
        (areas["dataset"] == dataset)
        & (areas["control"] == measure.control)
        & (areas["score"] == measure.score)
    ]
    if curves.empty or areas.empty:
        raise ValueError(f"resilience figure: no {measure} rows for {dataset}")
    primary = tests[
        (tests["family"] == "primary") & (tests["dataset"] == dataset)
        & (tests["measure"] == measure.name)
    ]  # fmt: skip
    models = sort_models(set(curves["model"]) | set(areas["model"]))
    fitted = [m for m in models if m != TEACHER]
    apply_style(font_size)
    fig, axes = plt.subplots(
        len(strategies), 2, squeeze=False, figsize=(11.0, 3.6 * len(strategies) + 1.4),
        gridspec_kw={"width_ratios": [1.3, 1.0]},
    )  # fmt: skip
    rng = np.random.default_rng(0)
    for r, strategy in enumerate(strategies):
        per_network = _score_curves(curves[curves["strategy"] == strategy], measure.score)
        _strategy_curves(axes[r, 0], per_network, models, strategy, measure.score)
        ax = axes[r, 1]
        rows = primary[primary["strategy"] == strategy]
        _violin_panel(ax, areas[areas["strategy"] == strategy], fitted, rows, rng)
        ax.set_ylabel("area under the curve")
        ax.set_title(f"areas, {STRATEGY_TITLES.get(strategy, strategy)}")
        ax.grid(axis="y", alpha=0.3)
    handles = [
        Line2D([], [], color=dale_colour(m), label=model_label(m),
               linestyle=DYNAMICS_LINESTYLE[figure_traits(m).dynamics])
        for m in fitted
    ]  # fmt: skip
    if TEACHER in models:
        label = "teacher (curve; dotted: its area)"
        handles.append(Line2D([], [], color="black", linewidth=2.5, linestyle="--", label=label))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), frameon=False,
               ncols=min(len(handles), 3), title="band: 95 % CI of the mean over networks; bar at "
               "the right edge: every recurrent connection removed; ▼: the mean leaves the axis "
               "(pVar < 0: the rollout is further\nfrom the data than the data's own mean, as a "
               "network that goes quiet or saturates; a curve's area stops at its first value "
               "<= 0);\nviolins: seeds, black bar: mean; brackets: primary tests (Holm)",
               )  # fmt: skip
    fig.suptitle(_measure_title(measure, dataset))
    fig.tight_layout()
    save_figure(fig, png_path, pdf_path, dpi)
