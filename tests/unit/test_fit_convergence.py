"""Convergence measured from the time-mean baseline: iterations to half the gain, and the
convergence table read from every run's metrics.json."""

import json

import pandas as pd
import pytest
from neurocircuit.fit.convergence import CONVERGENCE_COLUMNS, convergence_table
from neurocircuit.fit.training import iterations_to_half_gain


def history(*scores):
    """Rows as the training loop writes them: epoch k (1-based) scores the weights after k - 1
    updates."""
    return [{"epoch": k + 1, "train_score": s} for k, s in enumerate(scores)]


def test_half_gain_is_measured_from_the_baseline_to_the_best_score():
    rows = history(0.1, 0.3, 0.5, 0.62, 0.7, 0.65)
    # baseline 0.3, best 0.7: half the gain is 0.5, first reached after 2 updates
    assert iterations_to_half_gain(rows, 0.3) == 2
    # baseline 0.5, best 0.7: level 0.6 first reached by the 4th rollout (3 updates)
    assert iterations_to_half_gain(rows, 0.5) == 3
    # a low baseline moves the level down: -0.5 -> level 0.1, reached at once
    assert iterations_to_half_gain(rows, -0.5) == 0
    # the level is the best score, not the last: 0.7 - (0.7 - 0.6) / 2 = 0.65 (4 updates)
    assert iterations_to_half_gain(rows, 0.6) == 4


def test_no_gain_over_the_baseline_gives_none():
    rows = history(0.1, 0.2, 0.25)
    assert iterations_to_half_gain(rows, 0.25) is None
    assert iterations_to_half_gain(rows, 0.4) is None
    assert iterations_to_half_gain([], 0.0) is None
    assert iterations_to_half_gain(history(float("nan"), float("nan")), 0.0) is None
    # a network that sits at the baseline has no gain, even a few thousandths above it
    assert iterations_to_half_gain(history(0.049, 0.0500, 0.0501), 0.049) is None
    assert iterations_to_half_gain(history(0.049, 0.0500, 0.0601), 0.049) == 2
    # a diverged (NaN) epoch does not hide the gain of the others
    assert iterations_to_half_gain(history(0.0, float("nan"), 0.8), 0.0) == 2


def write_metrics(path, **changes):
    metrics = {
        "dataset": "toy",
        "model": "rate_dale_bptt",
        "seed": 0,
        "dynamics": "rate",
        "dale": True,
        "method": "bptt",
        "baseline_pvar_mean": 0.3,
        "iterations_to_half_gain": 12,
        "iterations": 40,
        "pvar": 0.8,
        "wall_time_s": 2.5,
        "device": "cpu",
        **changes,
    }
    path.write_text(json.dumps(metrics))
    return path


def test_convergence_table_columns_and_types(tmp_path):
    paths = [
        write_metrics(tmp_path / "a.json"),
        write_metrics(tmp_path / "b.json", seed=1, iterations_to_half_gain=None, pvar=0.2),
    ]
    table = convergence_table(paths)
    assert list(table.columns) == list(CONVERGENCE_COLUMNS)
    assert "convergence_pvar" not in table and "reached" not in table
    assert str(table["iterations_to_half_gain"].dtype) == "Int64"
    assert table["iterations_to_half_gain"].iloc[0] == 12
    assert pd.isna(table["iterations_to_half_gain"].iloc[1])
    assert table["gain_reached"].tolist() == [True, False]
    assert table["baseline_pvar_mean"].tolist() == [0.3, 0.3]
    assert table["pvar"].tolist() == [0.8, 0.2]
    written = tmp_path / "convergence.csv"
    table.to_csv(written, index=False)
    again = pd.read_csv(written)
    assert again["iterations_to_half_gain"].isna().tolist() == [False, True]


def test_convergence_table_names_the_file_and_missing_key(tmp_path):
    path = write_metrics(tmp_path / "metrics.json")
    metrics = json.loads(path.read_text())
    del metrics["iterations_to_half_gain"], metrics["baseline_pvar_mean"]
    path.write_text(json.dumps(metrics))
    with pytest.raises(
        ValueError,
        match=r"metrics\.json: missing key\(s\) baseline_pvar_mean, iterations_to_half_gain",
    ):
        convergence_table([path])
