"""Scores of windowed forecasts (neurocircuit.fit.forecast) and the columns of forecast.csv.

Every forecaster is scored per horizon step against two targets: the recorded frames of the
held-out block, min-max normalised with the training statistics and not smoothed (ZAPBench's
target, the primary scores), and the held-out fit's smoothed target (columns ``*_smoothed``).
Against the recorded target each forecaster's MAE minus the linear baseline's carries a
moving-block bootstrap interval over windows (neurocircuit.fit.forecast_bootstrap).

Arrays are time-major: forecasts and targets (H, B, N), per-window errors (H, B).
"""

from __future__ import annotations

import numpy as np

from neurocircuit.fit.forecast_baselines import BASELINES
from neurocircuit.fit.forecast_bootstrap import bootstrap_interval


def score_per_step(forecast: np.ndarray, target: np.ndarray) -> dict:
    """Scores of forecasts (H, B, N) against targets, each (H,) unless said: ``mae`` and
    ``pvar`` over all windows and neurons of each step (pVar NaN where the targets do not
    vary), ``pvar_per_neuron_median`` (each neuron's pVar over the windows against its own
    variance at that step, the median over neurons) and ``window_mae`` (H, B), each window's
    absolute error averaged over neurons (its mean over windows is ``mae``)."""
    from neurocircuit.metrics import median_pvar_per_neuron, pvar_per_neuron

    if forecast.shape != target.shape:
        raise ValueError(f"forecast shape {forecast.shape} differs from target {target.shape}")
    error = forecast - target
    variance = target.reshape(len(target), -1).var(axis=1)
    mse = (error**2).reshape(len(target), -1).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pvar = np.where(variance > 0, 1.0 - mse / np.where(variance > 0, variance, 1.0), np.nan)
    per_neuron = [
        median_pvar_per_neuron(pvar_per_neuron(f, t)) for f, t in zip(forecast, target, strict=True)
    ]
    window_mae = np.abs(error).mean(axis=2)
    return {
        "mae": window_mae.mean(axis=1),
        "pvar": pvar,
        "pvar_per_neuron_median": np.array(per_neuron),
        "window_mae": window_mae,
    }


def score_both_targets(forecast: np.ndarray, recorded: np.ndarray, smoothed: np.ndarray) -> dict:
    """:func:`score_per_step` against the ``recorded`` target (the primary scores) and, with
    the suffix ``_smoothed``, ``mae`` and ``pvar`` against the ``smoothed`` one."""
    second = score_per_step(forecast, smoothed)
    return {
        **score_per_step(forecast, recorded),
        "mae_smoothed": second["mae"],
        "pvar_smoothed": second["pvar"],
    }


FORECASTERS = ("model", *BASELINES)
"""Every forecaster of a run's table: the run's own (``model``) and the baselines."""
STEP_METRICS = ("mae", "pvar", "pvar_per_neuron_median", "mae_smoothed", "pvar_smoothed")
"""Per step and forecaster: scores against the recorded target, then against the smoothed one."""
DIFF = "mae_diff_vs_linear"
DIFF_METRICS = tuple(
    f"{DIFF}{part}{end}" for part in ("", "_cummean") for end in ("", "_low", "_high")
)
"""Per step and forecaster other than the linear baseline: its MAE minus the linear model's,
at the step and averaged over steps 1..h (``_cummean``), each with its bootstrap interval."""


def column(metric: str, forecaster: str) -> str:
    """A forecast table's column: ``metric`` for the run's model, ``metric_<baseline>``."""
    return metric if forecaster == "model" else f"{metric}_{forecaster}"


def table_columns() -> tuple[str, ...]:
    """The columns every forecast.csv holds besides its labels (dataset, model, seed)."""
    scores = [column(m, name) for name in FORECASTERS for m in STEP_METRICS]
    diffs = [column(m, name) for name in FORECASTERS if name != "linear" for m in DIFF_METRICS]
    return ("step", "time_s", "n_windows", "bootstrap_block", *scores, *diffs)


def reported_steps(horizon: int) -> dict:
    """The steps summaries report: first (1), mid (8, or the middle of a horizon under 32) and
    last (the horizon)."""
    horizon = int(horizon)
    return {"first": 1, "mid": 8 if horizon >= 32 else (horizon + 1) // 2, "last": horizon}


def difference_vs_linear(window_mae: np.ndarray, linear_mae: np.ndarray, block: int) -> dict:
    """``DIFF_METRICS`` (H,) of one forecaster: the windows' mean of its per-window MAE minus
    the linear model's (both (H, B)), at each step and averaged over steps 1..h, with their
    moving-block bootstrap intervals (neurocircuit.fit.forecast_bootstrap), the same draws
    for every forecaster and run of a data set."""
    difference = window_mae - linear_mae
    cummean = np.cumsum(difference, axis=0) / np.arange(1, len(difference) + 1)[:, None]
    out = {}
    for part, values in (("", difference), ("_cummean", cummean)):
        mean, low, high = bootstrap_interval(values, block)
        out.update({f"{DIFF}{part}": mean, f"{DIFF}{part}_low": low, f"{DIFF}{part}_high": high})
    return out


def forecast_table(scores: dict, labels: dict, windows, frame_period_s: float, block: int):
    """One row per horizon step of ``windows`` (neurocircuit.fit.forecast.ForecastWindows):
    labels, step (1..H), time_s, n_windows, bootstrap_block (in windows), ``STEP_METRICS`` and
    ``DIFF_METRICS`` of every forecaster (:func:`column`)."""
    import pandas as pd

    steps = np.arange(1, windows.horizon + 1)
    table = {**labels, "step": steps, "time_s": steps * frame_period_s}
    table["n_windows"] = len(windows.starts)
    table["bootstrap_block"] = int(block)
    for name in FORECASTERS:
        for metric in STEP_METRICS:
            table[column(metric, name)] = scores[name][metric]
    linear = scores["linear"]["window_mae"]
    for name in FORECASTERS:
        if name != "linear":
            differences = difference_vs_linear(scores[name]["window_mae"], linear, block)
            for metric in DIFF_METRICS:
                table[column(metric, name)] = differences[metric]
    return pd.DataFrame(table)
