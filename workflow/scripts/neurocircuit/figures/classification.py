"""Classification figures: test accuracy per data set and model against the published numbers,
and learning curves across seeds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from neurocircuit.figures.style import (
    OKABE_ITO,
    apply_style,
    as_percent,
    model_colours,
    model_label,
    read_table,
    run_id,
    save_figure,
)

SUMMARY_COLUMNS = ("dataset", "model", "n_seeds", "test_accuracy_mean", "test_accuracy_sd")
REFERENCE_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))


REFERENCE_PAIRS = (
    ("reference_accuracy", "reference_source"),
    ("reference_alt_accuracy", "reference_alt_source"),
)


def _references(rows: pd.DataFrame) -> list[tuple[str, float]]:
    """Distinct (label, accuracy %) published references of one data set's summary rows, from the
    ``reference_accuracy``/``reference_source`` and ``reference_alt_*`` column pairs."""
    found: dict[str, float] = {}
    for value_column, source_column in REFERENCE_PAIRS:
        if value_column not in rows.columns:
            continue
        for index, value in rows[value_column].items():
            if pd.isna(value):
                continue
            source = rows[source_column][index] if source_column in rows.columns else None
            source = "published" if source is None or pd.isna(source) or not source else source
            # A source that already states its number ("... (86.3 %)") is shown as it is.
            label = str(source) if "%" in str(source) else f"{source}: {value:.1f} %"
            found.setdefault(label, float(value))
    return list(found.items())


def _summary_in_percent(summary: pd.DataFrame) -> pd.DataFrame:
    """Copy of the summary with every accuracy column (test, validation, references) in %."""
    summary = summary.copy()
    summary["test_accuracy_mean"] = as_percent(summary["test_accuracy_mean"])
    summary["test_accuracy_sd"] = as_percent(summary["test_accuracy_sd"])
    for value_column, _ in REFERENCE_PAIRS:
        if value_column in summary.columns:
            summary[value_column] = as_percent(summary[value_column])
    if "val_accuracy_mean" in summary.columns:
        summary["val_accuracy_mean"] = as_percent(summary["val_accuracy_mean"])
    return summary


def _accuracy_points(
    ax, rows: pd.DataFrame, models: Sequence[str], colours: dict
) -> tuple[list[str], np.ndarray]:
    """Mean ± sd test accuracy (%) of each model as a point with error bar. Returns the tick
    labels (model, mean ± sd, seed count) and the bars' lower ends (%)."""
    means = rows.loc[models, "test_accuracy_mean"].to_numpy(float)
    sds = np.nan_to_num(rows.loc[models, "test_accuracy_sd"].to_numpy(float))
    for xi, model, mean, sd in zip(np.arange(len(models)), models, means, sds, strict=True):
        ax.errorbar(
            xi,
            mean,
            yerr=sd,
            marker="o",
            markersize=9,
            capsize=5,
            linewidth=1.5,
            color=colours[model],
            markeredgecolor="black",
        )
    labels = [
        f"{model_label(m)}\n{mean:.1f} ± {sd:.1f} % (n={int(rows.loc[m, 'n_seeds'])})"
        for m, mean, sd in zip(models, means, sds, strict=True)
    ]
    return labels, means - sds


def _accuracy_panel(
    ax, dataset: str, rows: pd.DataFrame, all_models: Sequence[str], colours: dict, n_references
) -> None:
    """One data set's panel: the models' accuracies, the published references as named
    horizontal lines (legend above), y from at most 50 % to 100 %. ``n_references`` (the most
    of any panel) sets the title's gap above the legend, so all titles line up."""
    rows = rows.set_index("model")
    models = [m for m in all_models if m in rows.index]
    tick_labels, lower_ends = _accuracy_points(ax, rows, models, colours)
    references = _references(rows.reset_index())
    for (label, value), style in zip(references, REFERENCE_STYLES, strict=False):
        ax.axhline(value, color=OKABE_ITO["black"], linestyle=style, linewidth=1.3, label=label)
    low = np.nanmin(np.concatenate([lower_ends, [v for _, v in references]]))
    ax.set_ylim(max(0.0, min(low - 10.0, 50.0)), 100.0)
    rotation = 0 if len(models) <= 4 else 30
    ax.set_xticks(
        np.arange(len(models)),
        tick_labels,
        rotation=rotation,
        ha="center" if rotation == 0 else "right",
        rotation_mode="anchor",
    )
    ax.set_xlim(-0.5, len(models) - 0.5)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(axis="y", alpha=0.3)
    if references:
        ax.legend(
            title="published reference",
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            frameon=False,
        )
    ax.set_title(dataset, pad=6 + (24 + 14 * n_references) * (n_references > 0), fontweight="bold")


def plot_classification_accuracy(
    summary_csv: str | Path,
    png_path: str | Path,
    pdf_path: str | Path,
    *,
    dpi: int = 150,
    font_size: float = 10.0,
) -> None:
    """Mean test accuracy ± sd over seeds per model (points with error bars, since the axis does not
    start at zero), one panel per data set, with the published
    reference accuracies as horizontal lines named by source.

    ``summary_csv`` holds one row per (dataset, model) with ``test_accuracy_mean``,
    ``test_accuracy_sd``, ``n_seeds`` and optionally ``reference_accuracy`` / ``reference_source``
    (accuracies as fractions or percent; fractions are shown as percent).
    """
    summary = _summary_in_percent(read_table(summary_csv, SUMMARY_COLUMNS))
    apply_style(font_size)
    datasets = list(dict.fromkeys(summary["dataset"]))
    all_models = sorted(set(summary["model"]))  # same order and colours in every figure
    colours = model_colours(all_models)
    n_references = max(len(_references(summary[summary["dataset"] == d])) for d in datasets)
    width = max(4.2, 1.0 + 1.3 * len(all_models)) * len(datasets)
    fig, axes = plt.subplots(1, len(datasets), figsize=(min(width, 18), 4.8), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        rows = summary[summary["dataset"] == dataset]
        _accuracy_panel(ax, dataset, rows, all_models, colours, n_references)
    fig.suptitle("Classification: mean ± sd over seeds vs published numbers")
    fig.tight_layout()
    save_figure(fig, png_path, pdf_path, dpi)


def _read_histories(
    history_csvs: Sequence[str | Path], epoch_column: str, metric_columns: Sequence[str]
) -> pd.DataFrame:
    """Every run's history in one table, with dataset, model and seed columns added."""
    frames = []
    for path in history_csvs:
        run = run_id(path)
        table = read_table(path, (epoch_column, *metric_columns))
        frames.append(table.assign(dataset=run.dataset, model=run.model, seed=run.seed))
    return pd.concat(frames, ignore_index=True)


def plot_learning_curves(
    history_csvs: Sequence[str | Path],
    png_path: str | Path,
    pdf_path: str | Path,
    *,
    metric_columns: Sequence[str] = ("train_accuracy", "val_accuracy"),
    epoch_column: str = "epoch",
    dpi: int = 150,
    font_size: float = 10.0,
) -> None:
    """Learning curves of every classification run: one panel per data set and metric, one
    colour per model, one thin line per seed.

    ``history_csvs`` are ``results/classification/{dataset}/{model}/seed{seed}/history.csv`` files
    with an ``epoch`` column and the ``metric_columns`` (accuracies as fractions or percent).
    """
    if not history_csvs:
        raise ValueError("plot_learning_curves: no history files given")
    history = _read_histories(history_csvs, epoch_column, metric_columns)
    apply_style(font_size)
    datasets = list(dict.fromkeys(history["dataset"]))
    all_models = sorted(set(history["model"]))
    colours = model_colours(all_models)
    fig, axes = plt.subplots(
        len(datasets),
        len(metric_columns),
        squeeze=False,
        figsize=(4.2 * len(metric_columns) + 2.5, 3.2 * len(datasets)),
    )
    for row, dataset in enumerate(datasets):
        for col, metric in enumerate(metric_columns):
            ax = axes[row, col]
            subset = history[history["dataset"] == dataset]
            for model in [m for m in all_models if m in set(subset["model"])]:
                for seed, run in subset[subset["model"] == model].groupby("seed"):
                    label = (
                        model_label(model)
                        if seed == subset[subset["model"] == model]["seed"].min()
                        else None
                    )
                    ax.plot(
                        run[epoch_column],
                        as_percent(run[metric]),
                        color=colours[model],
                        alpha=0.8,
                        linewidth=1.2,
                        label=label,
                    )
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(f"{metric.replace('_', ' ')} (%)")
            ax.set_title(f"{dataset}: {metric.replace('_', ' ')}")
            ax.grid(alpha=0.3)
    legend = {}
    for ax in axes[:, 0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.legend(
        legend.values(),
        legend.keys(),
        title="model (one line per seed)",
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
    )
    fig.tight_layout()
    save_figure(fig, png_path, pdf_path, dpi)
