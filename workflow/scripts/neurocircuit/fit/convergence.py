"""The convergence table: per fit, iterations to gain half of what training gained over the
time-mean baseline (neurocircuit.fit.training.iterations_to_half_gain)."""

from __future__ import annotations

import json

import pandas as pd

from neurocircuit.models.names import model_spec
from neurocircuit.runtime import atomic_path

RUN_LABELS = ("dataset", "model", "seed", "dynamics", "dale", "method")
METRICS_READ = (
    *RUN_LABELS,
    "baseline_pvar_mean",
    "iterations_to_half_gain",
    "iterations",
    "pvar",
    "wall_time_s",
    "device",
)
CONVERGENCE_COLUMNS = (
    *RUN_LABELS,
    "objective",
    "baseline_pvar_mean",
    "iterations_to_half_gain",
    "gain_reached",
    "iterations",
    "pvar",
    "wall_time_s",
    "device",
)


def _read_metrics(path) -> dict:
    """A run's metrics.json, with a clear error naming the file and any key the table needs."""
    with open(path) as fh:
        metrics = json.load(fh)
    missing = [key for key in METRICS_READ if key not in metrics]
    if missing:
        raise ValueError(f"{path}: missing key(s) {', '.join(missing)}")
    return metrics


def convergence_table(metrics_paths) -> pd.DataFrame:
    """One row per run: iterations to half the gain over the time-mean baseline
    (``iterations_to_half_gain``, empty when the run gained nothing; ``gain_reached`` says
    which), with the run's labels, that baseline's pVar, final pVar, iterations and wall time."""
    rows = []
    for path in metrics_paths:
        metrics = _read_metrics(path)
        row = {key: metrics[key] for key in METRICS_READ}
        row["objective"] = model_spec(metrics["model"]).objective  # from the name: old files too
        rows.append({**row, "gain_reached": metrics["iterations_to_half_gain"] is not None})
    table = pd.DataFrame(rows, columns=list(CONVERGENCE_COLUMNS))
    table["iterations_to_half_gain"] = table["iterations_to_half_gain"].astype("Int64")
    table["gain_reached"] = table["gain_reached"].astype(bool)
    return table


def write_convergence_table(metrics_paths, output_path) -> None:
    """results/fit/convergence.csv from every run's metrics.json."""
    with atomic_path(output_path) as tmp:
        convergence_table(metrics_paths).to_csv(tmp, index=False)
