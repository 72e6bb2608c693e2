"""The resilience stage's jobs on files: the curves and areas of one network (a fitted one or a
synthetic session's teacher), the summary over every network, and the paper-style figure of one
measure. Each reads what its rule names and writes atomically; the protocol itself is
:mod:`.resilience` and :mod:`.resilience_teacher`, the statistics :mod:`.resilience_stats`,
the figure :mod:`neurocircuit.figures.resilience`.

``settings`` of a curves job: strategies, levels, repeats, seed, controls (the
``resilience`` config section resolved by ``neurocircuit.workflow.resilience``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from neurocircuit.ablation.resilience import (
    CONTROLS,
    fitted_resilience_curves,
    resilience_areas,
)

SUMMARY_SECTIONS = ("primary", "exploratory", "filter", "power")
"""The summary table's sections (column ``section``): the primary tests, the exploratory
estimates, how many networks the intact-pVar filter dropped per model, and one line per data
set on the primary family's power."""
LABEL_TYPES = {"dataset": str, "model": str, "strategy": str, "control": str}
COUNT_COLUMNS = ("n_a", "n_b", "n_networks", "n_dropped", "n_kept")
"""Counts in the summary, written as integers (empty in the rows of other sections)."""


def write_tables(curves: pd.DataFrame, curves_csv, areas_csv) -> pd.DataFrame:
    """Write ``curves`` and their truncated areas (:func:`.resilience.resilience_areas`), each
    atomically; returns the areas."""
    from neurocircuit.runtime import atomic_path

    areas = resilience_areas(curves)
    with atomic_path(curves_csv) as tmp:
        curves.to_csv(tmp, index=False)
    with atomic_path(areas_csv) as tmp:
        areas.to_csv(tmp, index=False)
    return areas


def write_fitted_resilience(
    model_path, prediction_path, curves_csv, areas_csv, settings: dict, labels: dict, logger=None
) -> pd.DataFrame:
    """The resilience curves of one fitted network (its ``model.pt`` on the ``target`` of its
    ``prediction.h5``, the in-sample fit's recording) and their areas, written to
    ``curves_csv`` and ``areas_csv``. ``labels``: dataset, model, seed. Returns the curves."""
    if logger:
        logger.info(
            "%s: strategies %s, %d levels, %d random repeats, controls %s",
            model_path, ", ".join(settings["strategies"]), len(settings["levels"]),
            settings["repeats"], ", ".join(settings.get("controls", CONTROLS)),
        )  # fmt: skip
    curves = fitted_resilience_curves(model_path, prediction_path, settings, labels)
    write_tables(curves, curves_csv, areas_csv)
    return curves


def write_teacher_resilience(
    truth_path, activity_path, curves_csv, areas_csv, recording_settings: dict,
    preprocessing_settings: dict, settings: dict, labels: dict, logger=None,
) -> pd.DataFrame:  # fmt: skip
    """The resilience curves of a synthetic session's teacher on the recording the fits see
    (read with ``recording_settings``, preprocessed with ``preprocessing_settings``), under the
    same strategies, levels, repeats and controls as the fits; written like theirs."""
    from neurocircuit.ablation.resilience_teacher import teacher_resilience_curve
    from neurocircuit.fit.truth import read_teacher_recording

    truth, loaded, preset, target = read_teacher_recording(
        truth_path, activity_path, recording_settings, preprocessing_settings
    )
    if logger:
        logger.info("teacher of %s: %d recorded units", truth_path, target.shape[1])
    tables = [
        teacher_resilience_curve(
            truth,
            loaded.truth_index,
            target,
            preset.smoothing_sigma_frames,
            strategy,
            settings["levels"],
            settings["repeats"],
            settings["seed"],
            controls=settings.get("controls", CONTROLS),
            labels=labels,
        )  # fmt: skip
        for strategy in settings["strategies"]
    ]
    curves = pd.concat(tables, ignore_index=True)
    write_tables(curves, curves_csv, areas_csv)
    return curves


def read_tables(paths: Sequence) -> pd.DataFrame:
    """The curves or areas tables at ``paths``, one after the other (a missing or empty file is
    an error naming it)."""
    tables = []
    for path in paths:
        try:
            tables.append(pd.read_csv(path, dtype=LABEL_TYPES))
        except (OSError, pd.errors.EmptyDataError) as error:
            raise ValueError(f"{path}: not a readable resilience table ({error})") from None
    if not tables:
        raise ValueError("resilience: no tables to read")
    return pd.concat(tables, ignore_index=True)


def filtered_tables(curve_paths: Sequence, area_paths: Sequence, threshold: float | None):
    """The curves and areas of every network, the networks whose intact pVar is under
    ``threshold`` dropped (None: none), as ``resilience_stats.filter_by_intact_pvar`` returns
    them (curves, areas, dropped)."""
    from neurocircuit.ablation.resilience_stats import filter_by_intact_pvar

    curves, areas = read_tables(curve_paths), read_tables(area_paths)
    return filter_by_intact_pvar(curves, areas, -np.inf if threshold is None else float(threshold))


def power_rows(tests: pd.DataFrame, datasets: Sequence[str]) -> list[dict]:
    """One row per data set with the primary family's summary line (n per group, the smallest
    detectable effect at 80 % power, what Holm finds), or why it has none."""
    from neurocircuit.ablation.resilience_stats import summary_line

    rows = []
    for dataset in datasets:
        own = tests[tests["dataset"] == dataset] if len(tests) else tests
        if own.empty:
            note = "primary family: no test (every fitted network dropped by the filter)"
        else:
            note = summary_line(own)
        rows.append({"section": "power", "dataset": dataset, "note": note})
    return rows


def summarise_resilience_files(
    curve_paths: Sequence, area_paths: Sequence, summary_csv, settings: dict, logger=None
) -> pd.DataFrame:
    """results/resilience/summary.csv: every network's areas through the intact-pVar filter
    (``settings["filter_pvar"]``), then the primary contrasts (``primary_contrasts``) under
    every primary strategy (``settings["strategies"]``) and measure (Welch's tests, Holm over
    the primary family of each data set)
    and the exploratory estimates (``resilience_stats.resilience_tests``), the filter's counts
    per model and the power line per data set, in one table with a ``section`` column
    (:data:`SUMMARY_SECTIONS`). Returns it."""
    from neurocircuit.ablation.resilience_stats import (
        measures_from_config,
        primary_contrasts,
        resilience_tests,
    )
    from neurocircuit.models.names import TEACHER
    from neurocircuit.runtime import atomic_path

    contrasts = primary_contrasts(settings["primary_contrasts"])
    measures = measures_from_config(settings["measures"])
    kept = filtered_tables(curve_paths, area_paths, settings["filter_pvar"])
    datasets = sorted(set(kept.dropped["dataset"])) if len(kept.dropped) else []
    if (kept.areas["model"] != TEACHER).any():
        tests = resilience_tests(kept.areas, contrasts, settings["strategies"], measures)
        tests.insert(0, "section", tests["family"])
    else:
        tests = pd.DataFrame(columns=["section", "dataset", "family"])
    dropped = kept.dropped.assign(section="filter")
    table = pd.concat(
        [tests, dropped, pd.DataFrame(power_rows(tests, datasets))], ignore_index=True
    )
    for column in COUNT_COLUMNS:
        if column in table.columns:
            table[column] = table[column].astype("Int64")
    if logger:
        for row in power_rows(tests, datasets):
            logger.info("%s: %s", row["dataset"], row["note"])
        logger.info("filter: %d of %d networks dropped", int(dropped["n_dropped"].sum()),
                    int(dropped["n_networks"].sum()))  # fmt: skip
    with atomic_path(summary_csv) as tmp:
        table.to_csv(tmp, index=False)
    return table


def plot_resilience_files(
    curve_paths: Sequence, area_paths: Sequence, summary_csv, png_path, pdf_path,
    measure: dict, settings: dict, dataset: str, *, dpi: int = 150, font_size: float = 10.0,
) -> None:  # fmt: skip
    """The paper-style figure of one ``measure`` (name, control, score) on ``dataset``: the
    networks that pass the intact-pVar filter (``settings["filter_pvar"]``), a row per strategy
    of ``settings["strategies"]``, the primary tests of ``summary_csv`` on the violins
    (``neurocircuit.figures.resilience.plot_resilience``)."""
    from neurocircuit.ablation.resilience_stats import Measure
    from neurocircuit.figures.resilience import plot_resilience

    kept = filtered_tables(curve_paths, area_paths, settings["filter_pvar"])
    try:
        summary = pd.read_csv(summary_csv, dtype={"dataset": str, "model_a": str, "model_b": str})
    except (OSError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"{summary_csv}: not a readable resilience summary ({error})") from None
    if "section" not in summary.columns:
        raise ValueError(f"{summary_csv}: no 'section' column (not a resilience summary)")
    tests = summary[summary["section"].isin(["primary", "exploratory"])]
    tests = tests.astype({"n_a": int, "n_b": int})  # counts (the other sections leave them empty)
    if not (kept.curves["dataset"] == dataset).any():
        raise ValueError(
            f"resilience figure: every network of {dataset} was dropped by the intact-pVar "
            f"filter ({settings['filter_pvar']}): nothing to draw"
        )
    plot_resilience(
        kept.curves, kept.areas, tests, Measure(measure["name"], measure["control"],
        measure["score"]), png_path, pdf_path, strategies=settings["strategies"],
        dataset=dataset, dpi=dpi, font_size=font_size,
    )  # fmt: skip
