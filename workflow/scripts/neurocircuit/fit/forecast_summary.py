"""The forecast summary: every forecaster's windowed forecast scores across seeds (mean ± sd).

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
from neurocircuit.models.names import TEACHER
from neurocircuit.runtime import atomic_path

TABLE_COLUMNS = ("dataset", "model", "seed", "step", "n_windows", "mae", "pvar") + tuple(
    f"{metric}_{name}" for name in BASELINES for metric in ("mae", "pvar")
)
SUMMARY_COLUMNS = (
    "dataset",
    "forecaster",
    "kind",
    "n_runs",
    "forecast_mae_mean",
    "forecast_mae_sd",
    "forecast_pvar_mean",
    "forecast_pvar_sd",
    "mae_first_step_mean",
    "mae_last_step_mean",
    "horizon",
    "n_windows",
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
    """One row per forecaster of one run's table: averages over steps, first and last step."""
    model = str(table["model"].iloc[0])
    kind = "teacher" if model == TEACHER else "network"
    rows = []
    for name, forecaster, row_kind in [
        ("", model, kind),
        *((f"_{b}", b, "baseline") for b in BASELINES),
    ]:
        mae = table[f"mae{name}"].to_numpy(float)
        rows.append(
            {
                "dataset": table["dataset"].iloc[0],
                "forecaster": forecaster,
                "kind": row_kind,
                "forecast_mae": mae.mean(),
                "forecast_pvar": np.nanmean(table[f"pvar{name}"].to_numpy(float)),
                "mae_first_step": mae[0],
                "mae_last_step": mae[-1],
                "horizon": len(table),
                "n_windows": int(table["n_windows"].iloc[0]),
            }
        )
    return rows


def forecast_summary(table_paths) -> pd.DataFrame:
    """One row per (dataset, forecaster): mean and sd over runs (seeds) of the step-averaged
    MAE and pVar, the mean MAE of the first and last step, sorted by MAE within each data set."""
    rows = [row for path in table_paths for row in _run_rows(read_forecast_table(path))]
    if not rows:
        raise ValueError("forecast summary: no forecast table given")
    runs = pd.DataFrame(rows)
    grouped = runs.groupby(["dataset", "forecaster", "kind"], sort=False)
    summary = grouped.agg(
        n_runs=("forecast_mae", "size"),
        forecast_mae_mean=("forecast_mae", "mean"),
        forecast_mae_sd=("forecast_mae", "std"),
        forecast_pvar_mean=("forecast_pvar", "mean"),
        forecast_pvar_sd=("forecast_pvar", "std"),
        mae_first_step_mean=("mae_first_step", "mean"),
        mae_last_step_mean=("mae_last_step", "mean"),
        horizon=("horizon", "max"),
        n_windows=("n_windows", "max"),
    ).reset_index()
    summary = summary.sort_values(["dataset", "forecast_mae_mean"], kind="stable")
    return summary[list(SUMMARY_COLUMNS)].reset_index(drop=True)


def write_forecast_summary(table_paths, output_path) -> None:
    """results/fit/forecast_summary.csv from every forecast.csv, atomically."""
    summary = forecast_summary(table_paths)
    with atomic_path(output_path) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.6g")
