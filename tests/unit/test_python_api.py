"""neurocircuit.load_fit (neurocircuit/api.py): docs/python-api.md's Python blocks run, in order,
on a small run folder fitted here through the fit jobs, and give the workflow's own numbers."""

import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from neurocircuit import api
from neurocircuit.fit import jobs
from neurocircuit.fit.settings import resolve_fit_settings

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "python-api.md"
MODEL = "rate_dale_bptt"
OUTPUT_FILES = {
    "model": "model.pt",
    "prediction": "prediction.h5",
    "history": "history.csv",
    "per_neuron": "pvar_per_neuron.csv",
    "weights": "weights.npz",
    "scores": "scores.json",
}


def write_recording(path: Path, n_neurons: int = 8, n_frames: int = 200) -> None:
    """An activity.h5 (neurons × time): phase-shifted oscillations plus noise."""
    rng = np.random.default_rng(0)
    t = np.arange(n_frames)[:, None]
    phase = np.linspace(0, np.pi, n_neurons)[None, :]
    traces = 0.5 + 0.3 * np.sin(2 * np.pi * t / 60.0 + phase)
    traces = traces + 0.01 * rng.normal(size=traces.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5["dff"] = traces.T.astype(np.float32)
        h5["time_s"] = np.arange(n_frames) * 0.1


def fit_section() -> dict:
    """A fit config section with a short training run (as the workflow resolves it)."""
    return {
        "zebrafish": {"frame_period_s": 0.9},
        "defaults": {
            "preprocessing": {"normalisation": "per_neuron", "smoothing_sigma_frames": 2.0},
            "heldout_fraction": 0.2,
            "validation_fraction": 0.125,
            "ar1_ridge": None,
            "max_neurons": None,
            "max_frames": None,
            "network": {
                "shared": {"exc_fraction": 0.5},
                "init_from_data": True,
                "init_weights": "regression",
                "init_ridge": 0.03,
                "rate": {"tau": 10.0},
            },
            "training": {"epochs": 30, "lr": 0.02, "progress": False, "eval_every": 5},
        },
    }


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory) -> Path:
    """A folder laid out like the demo's results: the recording and one fitted run (in sample
    and held out, metrics merged), written by the fit jobs themselves."""
    root = tmp_path_factory.mktemp("demo")
    activity = root / "results/imaging/synthetic/activity.h5"
    write_recording(activity)
    run_dir = root / "results/fit/synthetic" / MODEL / "seed0"
    settings = resolve_fit_settings(fit_section(), "synthetic", MODEL)
    params = {"dataset": "synthetic", "model": MODEL, "seed": 0, "device": "cpu"}
    params["settings"] = settings
    for split, folder in (("in_sample", run_dir), ("heldout", run_dir / "heldout")):
        outputs = {key: folder / name for key, name in OUTPUT_FILES.items()}
        jobs.fit_job(split, activity, outputs, params)
    jobs.merge_fit_metrics(
        run_dir / "scores.json", run_dir / "heldout/scores.json", run_dir / "metrics.json"
    )
    return root


def page_blocks() -> list[str]:
    """The ```python blocks of docs/python-api.md, in order."""
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def page(demo_like, tmp_path_factory) -> dict:
    """The namespace after running every Python block of the page in the demo-like folder."""
    blocks = page_blocks()
    assert len(blocks) >= 5, "docs/python-api.md lost its code blocks"
    namespace: dict = {}
    previous = Path.cwd()
    os.chdir(demo_like)
    try:
        for index, block in enumerate(blocks):
            exec(compile(block, f"{PAGE.name}[block {index}]", "exec"), namespace)
    finally:
        os.chdir(previous)
    return namespace


def test_the_page_loads_the_run_with_its_spec_and_preprocessing(page):
    fit = page["fit"]
    assert fit.spec.name == MODEL and fit.spec.dale and fit.spec.method == "bptt"
    assert (fit.preprocessing.normalisation, fit.preprocessing.smoothing_sigma_frames) == (
        "per_neuron",
        2.0,
    )
    assert fit.n_units == 8 and fit.split == "in_sample"
    assert page["heldout"].split == "heldout"
    assert page["heldout"].model_path.parent.name == "heldout"


def test_preprocess_and_rollout_give_the_saved_target_and_prediction(page):
    saved = page["saved"]
    np.testing.assert_allclose(page["target"], saved["target"], atol=1e-6)
    np.testing.assert_allclose(page["prediction"], saved["prediction"], atol=1e-6)
    fit = page["fit"]
    assert page["pvar"](page["prediction"][1:], page["target"][1:]) == pytest.approx(
        fit.metrics["pvar"], abs=1e-6
    )
    assert fit.metrics["pvar"] > fit.metrics["baseline_pvar_mean"] + 0.2  # it learned


def test_forecast_of_the_heldout_block_is_the_heldout_fit(page):
    heldout = page["heldout"]
    saved = heldout.saved_prediction()
    np.testing.assert_allclose(page["whole"], saved["prediction"], atol=1e-6)
    assert page["pvar"](page["whole"], saved["target"]) == pytest.approx(
        heldout.metrics["pvar_heldout"], abs=1e-6
    )


def test_window_forecasts_are_the_workflow_network_forecaster(page):
    """The batched forecasts equal fit.forecast's forecaster on the same windows, and one
    window alone gives the same numbers as the batch."""
    from neurocircuit.fit.forecast import (
        ForecastSettings,
        forecast_windows,
        network_forecaster,
        window_contexts,
    )
    from neurocircuit.fit.recording import minmax_range

    heldout, n_train = page["heldout"], page["n_train"]
    traces = page["recording"].traces
    settings = ForecastSettings(horizon=page["horizon"], context=64)
    windows = forecast_windows(len(traces), n_train, settings)
    low, high = minmax_range(traces[:n_train], "per_neuron")
    contexts = window_contexts(traces, windows, low, high, 2.0)
    expected = network_forecaster(heldout.network)(contexts, windows)
    np.testing.assert_allclose(page["windows"], expected, atol=1e-12)
    index = page["start"] - n_train
    np.testing.assert_allclose(page["forecast"], page["windows"][:, index], atol=1e-12)


def test_ablate_removes_half_of_the_connections_from_a_copy(page):
    fit, ablated = page["fit"], page["ablated"]
    n_connections = int((fit.weights != 0).sum())
    assert page["removed"].sum() == int(np.floor(0.5 * n_connections + 0.5)) > 0
    assert (fit.network.connection_mask.numpy() == 1).all()  # the loaded network is intact
    from neurocircuit.ablation.orders import removal_order

    order = removal_order(fit.weights, "strongest")
    first = np.unravel_index(order[: page["removed"].sum()], fit.weights.shape)
    assert (ablated.connection_mask.numpy()[first] == 0).all()
    assert not np.allclose(page["after"], page["prediction"])


def test_bad_inputs_say_what_is_wrong(page, demo_like, tmp_path):
    fit = page["fit"]
    with pytest.raises(ValueError, match=r"time-major \(T, 8\).*got shape \(8, 200\).*\.T"):
        fit.preprocess(page["recording"].traces.T)
    with pytest.raises(ValueError, match="NaN"):
        fit.rollout(np.full(8, np.nan), 3)
    with pytest.raises(FileNotFoundError, match="no such fit run folder"):
        api.load_fit(tmp_path / "nowhere")
    (tmp_path / "model.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"model\.pt: not a readable model file"):
        api.load_fit(tmp_path)
    with pytest.raises(ValueError, match="unknown strategy 'biggest'"):
        fit.ablate("biggest", 0.5)


def test_importing_the_package_stays_light():
    """neurocircuit.load_fit is there without importing torch (or the api) up front."""
    code = (
        "import sys, neurocircuit; assert 'torch' not in sys.modules; "
        "assert 'neurocircuit.api' not in sys.modules; "
        "assert callable(neurocircuit.load_fit) and 'torch' not in sys.modules"
    )
    env_path = str(ROOT / "workflow" / "scripts")
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path},
    )
    assert result.returncode == 0, result.stderr


def test_a_run_before_its_metrics_are_merged_reads_both_scores(demo_like, tmp_path):
    """Without metrics.json, scores.json and heldout/scores.json together (the in-sample values
    first)."""
    import shutil

    run_dir = tmp_path / "seed0"
    shutil.copytree(demo_like / "results/fit/synthetic" / MODEL / "seed0", run_dir)
    merged = api.read_run_metrics(run_dir)
    (run_dir / "metrics.json").unlink()
    metrics = api.load_fit(run_dir, heldout=True).metrics
    assert metrics["pvar_heldout"] == merged["pvar_heldout"]
    assert metrics["pvar"] == merged["pvar"] and metrics["spec"] == merged["spec"]
    (run_dir / "scores.json").unlink()
    with pytest.raises(FileNotFoundError, match="no metrics.json or scores.json"):
        api.load_fit(run_dir)


def test_ablating_a_spiking_network_masks_a_copy():
    """The copy's unit-to-unit matrix loses the removed connections; the original keeps them."""
    from neurocircuit.fit.recording import Preprocessing
    from neurocircuit.models.fitted import build_network
    from neurocircuit.models.names import model_spec

    spec = model_spec("spiking_dale_bptt")
    network = build_network(spec, 6, {"shared": {"exc_fraction": 0.5}}, seed=0)
    run = api.FittedRun(
        Path("."), "in_sample", network, spec, Preprocessing(), {}, Path("model.pt")
    )
    before = run.weights
    ablated = run.ablate("random", 0.4, seed=3)
    removed = (ablated.connection_mask.numpy() == 0) & (before != 0)
    assert removed.sum() == int(np.floor(0.4 * (before != 0).sum() + 0.5)) > 0
    assert (ablated.effective_connectivity().numpy()[removed] == 0).all()
    np.testing.assert_array_equal(run.weights, before)
