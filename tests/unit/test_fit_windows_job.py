"""The fit jobs of a ``_windows`` model (issue #21, item 5): the same jobs, files and network as
the paper's single rollout, trained instead on forecasts from windows of the recorded frames."""

import json

import numpy as np
import pandas as pd
import pytest
from neurocircuit.fit import jobs
from neurocircuit.fit.settings import resolve_fit_settings
from test_fit_training import fit_config, fit_run, write_recording

WINDOWS = {"batch": 8, "context": 8, "schedule": [[0, 1], [6, 4]], "validation_horizon": 4}


def _outputs(run_dir):
    names = {"model": "model.pt", "prediction": "prediction.h5", "history": "history.csv",
             "per_neuron": "pvar_per_neuron.csv", "weights": "weights.npz",
             "scores": "scores.json"}  # fmt: skip
    return {name: run_dir / filename for name, filename in names.items()}


def test_windows_settings_reach_only_windows_runs():
    config = fit_config(windows=WINDOWS)
    assert "windows" not in resolve_fit_settings(config, "toy", "rate_dale_bptt")["training"]
    windowed = resolve_fit_settings(config, "toy", "rate_dale_bptt_windows")["training"]
    assert windowed["windows"] == WINDOWS
    with pytest.raises(ValueError, match="rate_dale_eprop_windows' is refused"):
        resolve_fit_settings(config, "toy", "rate_dale_eprop_windows")


@pytest.mark.parametrize("model", ["rate_dale_bptt_windows", "spiking_nodale_bptt_windows"])
def test_windows_fit_jobs_train_on_windows_and_keep_the_best_forecast(tmp_path, model):
    """Both splits run; the history's validation score is minus the validation windows' MAE
    (a rollout fit's is a pVar near 1), the kept iteration is the best one, and the spec says
    the objective."""
    activity = write_recording(tmp_path / "activity.h5")
    config = fit_config(windows=WINDOWS, epochs=12, stop_pvar=None)
    run = fit_run(config, model)
    run_dir = tmp_path / "fit" / "toy" / model / "seed0"
    scores = jobs.fit_job("in_sample", activity, _outputs(run_dir), run)
    heldout = jobs.fit_job("heldout", activity, _outputs(run_dir / "heldout"), run)
    assert scores["spec"]["objective"] == heldout["spec"]["objective"] == "windows"
    assert scores["objective"] == "windows"
    for split_dir, result in ((run_dir, scores), (run_dir / "heldout", heldout)):
        history = pd.read_csv(split_dir / "history.csv")
        assert len(history) == 12
        evaluated = history["val_score"].dropna()
        assert len(evaluated) == 3 and (evaluated < 0).all() and (evaluated > -1).all()
        assert history["val_mae"].dropna().to_numpy() == pytest.approx(-evaluated.to_numpy())
        assert np.isfinite(result.get("pvar", result.get("pvar_heldout")))
    assert heldout["heldout_best_iteration"] == int(
        history.loc[history["val_score"].idxmax(), "iteration"] + 1
    )
    # the kept iteration's score is named for what it is: the validation windows' MAE
    assert scores["best_training_pvar"] is None and heldout["heldout_validation_pvar"] is None
    assert heldout["heldout_validation_forecast_mae"] == pytest.approx(-history["val_score"].max())
    saved = json.loads((run_dir / "heldout" / "scores.json").read_text())
    assert saved["n_fit_frames"] == 42 and saved["n_validation_frames"] == 6
