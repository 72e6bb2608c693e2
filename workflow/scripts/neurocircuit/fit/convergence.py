"""The convergence table: per fit, iterations to reach a level of training pVar."""

from __future__ import annotations

import json

import pandas as pd

from neurocircuit.runtime import atomic_path

CONVERGENCE_COLUMNS = (
    "dataset",
    "model",
    "seed",
    "dynamics",
    "dale",
    "method",
    "convergence_pvar",
    "iterations_to_pvar",
    "reached",
    "iterations",
    "pvar",
    "wall_time_s",
    "device",
)


def convergence_table(metrics_paths) -> pd.DataFrame:
    """One row per run: iterations to reach the convergence pVar (empty when never reached),
    with the run's labels, final pVar and wall time."""
    rows = []
    for path in metrics_paths:
        with open(path) as fh:
            metrics = json.load(fh)
        level = metrics["convergence_pvar"]
        iterations = metrics[f"iterations_to_pvar_{level:g}"]
        rows.append(
            {
                **{
                    key: metrics[key]
                    for key in ("dataset", "model", "seed", "dynamics", "dale", "method")
                },
                "convergence_pvar": level,
                "iterations_to_pvar": iterations,
                "reached": iterations is not None,
                "iterations": metrics["iterations"],
                "pvar": metrics["pvar"],
                "wall_time_s": metrics["wall_time_s"],
                "device": metrics["device"],
            }
        )
    table = pd.DataFrame(rows, columns=list(CONVERGENCE_COLUMNS))
    table["iterations_to_pvar"] = table["iterations_to_pvar"].astype("Int64")
    return table


def write_convergence_table(metrics_paths, output_path) -> None:
    """results/fit/convergence.csv from every run's metrics.json."""
    with atomic_path(output_path) as tmp:
        convergence_table(metrics_paths).to_csv(tmp, index=False)
