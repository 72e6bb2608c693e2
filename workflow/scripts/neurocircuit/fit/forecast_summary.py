"""The forecast summary: every forecaster's windowed forecast scores across seeds (mean ± sd),
and its MAE minus the linear baseline's with a moving-block bootstrap interval over windows.

Reads the per-run tables of the forecast jobs (results/fit/{dataset}/{model}/seed{seed}/
forecast.csv and a teacher's results/fit/{dataset}/teacher/forecast.csv, one row per horizon
step) and writes one row per (dataset, forecaster): the networks (kind ``network``), the
teacher (``teacher``) and the baselines (``baseline``, taken from every run's table: they are
computed on the same windows by every run of a data set, so their sd is 0 unless runs split
the recording differently).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurocircuit.fit.forecast_baselines import BASELINES
from neurocircuit.fit.forecast_scores import DIFF, column, reported_steps, table_columns
from neurocircuit.models.names import TEACHER
from neurocircuit.runtime import atomic_path

TABLE_COLUMNS = ("dataset", "model", "seed", *table_columns())
STEPS = ("first", "mid", "last")
INTERVAL = ("", "_low", "_high")
DIFF_COLUMNS = tuple(
    f"{DIFF}{step}{end}" for step in ("", *(f"_{s}_step" for s in STEPS)) for end in INTERVAL
)
"""The summary's model-minus-linear MAE over steps and at the reported steps, with intervals."""
SPREAD = ("mae", "pvar", "pvar_per_neuron_median", "mae_smoothed", "pvar_smoothed")
"""Step-averaged scores given as mean and sd over runs (``forecast_<score>_mean``, ``_sd``)."""
SUMMARY_COLUMNS = (
    "dataset",
    "forecaster",
    "kind",
    "n_runs",
    *(f"forecast_{score}_{stat}" for score in SPREAD for stat in ("mean", "sd")),
    *(f"mae_{step}_step_mean" for step in STEPS),
    *DIFF_COLUMNS,
    "mid_step",
    "horizon",
    "n_windows",
    "bootstrap_block",
)


def read_forecast_table(path) -> pd.DataFrame:
    """A forecast.csv, checked: its columns and one row per step 1..H."""
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        raise ValueError(f"{path}: not a readable forecast table ({error})") from None
    missing = [column for column in TABLE_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    if table.empty or list(table["step"]) != list(range(1, len(table) + 1)):
        raise ValueError(f"{path}: expected one row per step 1..H")
    return table


def _run_rows(table: pd.DataFrame) -> list[dict]:
    """One row per forecaster of one run's table: averages over steps, the MAE at the reported
    steps and its MAE minus the linear model's with intervals (0 for the linear model)."""
    model = str(table["model"].iloc[0])
    kind = "teacher" if model == TEACHER else "network"
    steps = reported_steps(len(table))
    rows = []
    for name, forecaster, row_kind in [
        ("model", model, kind),
        *((b, b, "baseline") for b in BASELINES),
    ]:
        row = {"dataset": table["dataset"].iloc[0], "forecaster": forecaster, "kind": row_kind}
        for score in SPREAD:
            values = table[column(score, name)].to_numpy(float)
            row[f"forecast_{score}"] = np.mean(values) if score == "mae" else np.nanmean(values)
        for label, step in steps.items():
            row[f"mae_{label}_step"] = table[column("mae", name)].iloc[step - 1]
        for end in INTERVAL:
            if name == "linear":
                row.update({key: 0.0 for key in DIFF_COLUMNS})
                break
            row[f"{DIFF}{end}"] = table[column(f"{DIFF}_cummean{end}", name)].iloc[-1]
            for label, step in steps.items():
                row[f"{DIFF}_{label}_step{end}"] = table[column(f"{DIFF}{end}", name)].iloc[
                    step - 1
                ]
        row["mid_step"] = steps["mid"]
        row["horizon"] = len(table)
        row["n_windows"] = int(table["n_windows"].iloc[0])
        row["bootstrap_block"] = int(table["bootstrap_block"].iloc[0])
        rows.append(row)
    return rows


def forecast_summary(table_paths) -> pd.DataFrame:
    """One row per (dataset, forecaster): mean and sd over runs (seeds) of the step-averaged
    scores, the mean MAE at the reported steps, and the mean over runs of the model-minus-linear
    MAE differences and of their interval ends; sorted by MAE within each data set.

    The intervals of several runs: every run resamples the same windows with the same seeded
    blocks, so the runs' bootstrap replicates move together, and the mean of their interval ends
    is the interval of the runs' mean difference when the replicates rank alike (wider when they
    do not). The runs' spread (seeds) is the ``_sd`` columns, not part of the interval."""
    rows = [row for path in table_paths for row in _run_rows(read_forecast_table(path))]
    if not rows:
        raise ValueError("forecast summary: no forecast table given")
    runs = pd.DataFrame(rows)
    grouped = runs.groupby(["dataset", "forecaster", "kind"], sort=False)
    aggregations = {"n_runs": ("forecast_mae", "size")}
    for score in SPREAD:
        aggregations[f"forecast_{score}_mean"] = (f"forecast_{score}", "mean")
        aggregations[f"forecast_{score}_sd"] = (f"forecast_{score}", "std")
    for step in STEPS:
        aggregations[f"mae_{step}_step_mean"] = (f"mae_{step}_step", "mean")
    aggregations.update({key: (key, "mean") for key in DIFF_COLUMNS})
    for key in ("mid_step", "horizon", "n_windows", "bootstrap_block"):
        aggregations[key] = (key, "max")
    summary = grouped.agg(**aggregations).reset_index()
    summary = summary.sort_values(["dataset", "forecast_mae_mean"], kind="stable")
    return summary[list(SUMMARY_COLUMNS)].reset_index(drop=True)


def write_forecast_summary(table_paths, output_path) -> None:
    """results/fit/forecast_summary.csv from every forecast.csv, atomically."""
    summary = forecast_summary(table_paths)
    with atomic_path(output_path) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.6g")
