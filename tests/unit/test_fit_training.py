"""Fitting networks to activity: model names, a short fit that beats the mean baseline, and the
jobs behind the fit and ablation rules on a tiny recording (all files, all keys)."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from neurocircuit import ablation, metrics
from neurocircuit.fit import convergence, jobs, training
from neurocircuit.fit.settings import FitRun, resolve_fit_settings
from neurocircuit.models import fitted
from neurocircuit.models.names import parse_model_name

pytestmark = pytest.mark.usefixtures("one_thread")


def oscillations(n_neurons=6, n_frames=80, period=25.0):
    """(T, N) phase-shifted sinusoids in [0.2, 0.8]: mean predictor pVar 0."""
    t = np.arange(n_frames)[:, None]
    phase = np.linspace(0, np.pi, n_neurons)[None, :]
    return 0.5 + 0.3 * np.sin(2 * np.pi * t / period + phase)


def test_model_names():
    spec = parse_model_name("spiking_dalesign_eprop")
    assert (spec.dynamics, spec.dale, spec.dale_mode, spec.method) == (
        "spiking",
        True,
        "learnable_sign",
        "eprop",
    )
    assert not parse_model_name("rate_nodale_bptt").dale
    with pytest.raises(ValueError, match="is not"):
        parse_model_name("rate_dale")


@pytest.mark.parametrize(
    ("name", "variant", "learns_sign", "factors"),
    [
        ("spiking_dale_bptt", "dale", False, ("spiking", "dale", "bptt", "rollout")),
        ("rate_dalesign_eprop", "dalesign", True, ("rate", "dalesign", "eprop", "rollout")),
        ("rate_nodale_force", "nodale", True, ("rate", "nodale", "force", "rollout")),
        ("rate_dale_tbptt_windows", "dale", False, ("rate", "dale", "tbptt", "windows")),
        ("teacher", "dale", False, (None, None, None, None)),
    ],
)
def test_the_spec_is_the_one_identity_of_a_model(name, variant, learns_sign, factors):
    from neurocircuit.models.names import TEACHER_SPEC, model_spec

    spec = model_spec(name)
    assert (spec.dale_variant, spec.learns_sign) == (variant, learns_sign)
    assert tuple(spec.factors().values()) == factors
    assert list(spec.factors()) == ["dynamics", "dale", "method", "objective"]
    assert spec.to_dict()["name"] == name and spec.is_teacher == (spec is TEACHER_SPEC)
    with pytest.raises(ValueError, match="is not"):
        model_spec("lif_dale")  # names outside the grammar are refused, not guessed


@pytest.mark.parametrize("name", ["rate_dale_eprop_windows", "rate_nodale_force_windows"])
def test_windows_objective_refuses_eprop_and_force(name):
    """Training on windows needs a gradient through each window's rollout: e-prop and FORCE
    with ``_windows`` are refused by the grammar (at config time) with one line saying why."""
    with pytest.raises(ValueError, match="is refused: .*BPTT or truncated BPTT"):
        parse_model_name(name)
    assert parse_model_name(name.replace("_windows", "")).objective == "rollout"


def test_iterations_to_reach():
    history = [{"epoch": 1, "train_score": 0.2}, {"epoch": 2, "train_score": 0.91}]
    assert training.iterations_to_reach(history, 0.9) == 1
    assert training.iterations_to_reach(history, 0.95) is None


def test_fit_validation_and_heldout_blocks_are_disjoint_by_frame():
    """The fit protocol's three blocks of a 60-frame recording: [0, 42) fit, [42, 48) validate,
    [48, 60) held out. The loss (and its gradient) reads exactly the fit block's predicted
    frames, the validation score exactly the validation block: changing any frame outside a
    block leaves what it computes unchanged, changing one frame inside changes it."""
    from neurocircuit.learning import SequenceFitTask
    from neurocircuit.metrics import split_train_test
    from neurocircuit.models import RateActivityNetwork

    n_train = split_train_test(60, 0.2)
    n_validation = jobs.validation_split(n_train, 0.125)
    n_fit = n_train - n_validation
    assert (n_fit, n_validation, 60 - n_train) == (42, 6, 12)
    task = SequenceFitTask(validation_frames=n_validation)
    generator = torch.Generator().manual_seed(0)
    target = 0.2 + 0.6 * torch.rand(n_train, 4, generator=generator, dtype=torch.float64)
    weights = task.weights(n_train, target)
    assert weights.nonzero().flatten().tolist() == list(range(1, n_fit))
    model = RateActivityNetwork(4, seed=0).double()

    def loss_and_grad(frames):
        model.zero_grad()
        loss = task.bptt_loss(model, frames)[0]
        loss.backward()
        return float(loss.detach()), model.weight.grad.clone()

    def validation_score(frames):
        return task.evaluate(model, frames)["score"]

    def changed(frames, index):
        out = frames.clone()
        out[index] = 0.2 + 0.6 * torch.rand(4, generator=generator, dtype=torch.float64)
        return out

    loss, grad = loss_and_grad(target)
    score = validation_score(target)
    outside_fit = changed(changed(target, n_fit), n_train - 1)
    assert loss_and_grad(outside_fit)[0] == loss
    assert torch.equal(loss_and_grad(outside_fit)[1], grad)
    assert loss_and_grad(changed(target, n_fit - 1))[0] != loss
    outside_validation = changed(changed(target, 1), n_fit - 1)
    assert validation_score(outside_validation) == score
    assert validation_score(changed(target, n_fit)) != score
    assert validation_score(changed(target, n_train - 1)) != score


def relaxation(n_neurons=6, n_frames=50):
    """(T, N) exponential relaxations from x0 to a fixed point, time constants 4..12 frames."""
    t = np.arange(n_frames)[:, None]
    start = np.linspace(0.1, 0.9, n_neurons)[None, :]
    end = np.linspace(0.7, 0.2, n_neurons)[None, :]
    tau = np.linspace(4.0, 12.0, n_neurons)[None, :]
    return end + (start - end) * np.exp(-t / tau)


@pytest.mark.parametrize("model_name", ["rate_nodale_bptt", "spiking_dale_eprop"])
def test_short_fit_beats_the_mean_baseline(model_name):
    target = relaxation()
    run = training.train_on_sequence(
        target,
        parse_model_name(model_name),
        network_options={},
        training={"epochs": 60, "lr": 0.05, "progress": False, "eval_every": 10},
        seed=0,
        device="cpu",
    )
    prediction = fitted.rollout(run.model, target[0], target.shape[0])
    score = metrics.pvar(prediction[1:], target[1:])
    baseline = metrics.baseline_pvar_mean(target[1:])
    assert 0.5 < baseline < 0.6  # the fixed points differ between neurons
    assert score > baseline + 0.3, score
    assert run.result.epochs_run == 60


def write_recording(path, n_neurons=6, n_frames=60):
    rng = np.random.default_rng(0)
    dff = oscillations(n_neurons, n_frames).T + 0.05 * rng.normal(size=(n_neurons, n_frames))
    with h5py.File(path, "w") as h5:
        h5["dff"] = dff.astype(np.float32)
        h5["time_s"] = np.arange(n_frames) * 0.1
    return path


def fit_config(**training):
    return {
        "datasets": ["toy"],
        "models": ["rate_dale_bptt"],
        "seeds": [0],
        "zebrafish": {"frame_period_s": 0.9},
        "max_neurons": None,
        "max_frames": None,
        "preprocessing": {"normalisation": "per_neuron", "smoothing_sigma_frames": 1.0},
        "heldout_fraction": 0.2,
        "validation_fraction": 0.125,
        "ar1_ridge": None,
        "network": {"shared": {"exc_fraction": 0.5}},
        "training": {"epochs": 20, "lr": 0.02, "progress": False, "eval_every": 5, **training},
        "model_settings": {"rate_dale_bptt": {"training": {"stop_pvar": None}}},
    }


def fit_run(config, model, dataset="toy", seed=0):
    """A fit job's params, as common.smk resolves them."""
    settings = resolve_fit_settings(config, dataset, model)
    return {"dataset": dataset, "model": model, "seed": seed, "device": "cpu", "settings": settings}


def test_fit_jobs_write_every_file_and_key(tmp_path):
    activity = write_recording(tmp_path / "activity.h5")
    run_dir = tmp_path / "fit" / "toy" / "rate_dale_bptt" / "seed0"
    outputs = {
        name: run_dir / filename
        for name, filename in {
            "model": "model.pt",
            "prediction": "prediction.h5",
            "history": "history.csv",
            "per_neuron": "pvar_per_neuron.csv",
            "weights": "weights.npz",
            "scores": "scores.json",
        }.items()
    }
    heldout = {
        name: run_dir / "heldout" / filename
        for name, filename in {
            "model": "model.pt",
            "prediction": "prediction.h5",
            "history": "history.csv",
            "per_neuron": "pvar_per_neuron.csv",
            "weights": "weights.npz",
            "scores": "scores.json",
        }.items()
    }
    run = fit_run(fit_config(), "rate_dale_bptt")
    scores = jobs.fit_job("in_sample", activity, outputs, run)
    jobs.fit_job("heldout", activity, heldout, run)
    merged = jobs.merge_fit_metrics(outputs["scores"], heldout["scores"], run_dir / "metrics.json")
    _check_heldout_tables(heldout, merged)

    _check_scores(merged, run_dir)
    _check_files(outputs, scores)
    _check_tabulated_and_ablated(tmp_path, run_dir, outputs, scores, merged)


def _check_heldout_tables(heldout: dict, merged: dict) -> None:
    """The held-out fit's per-neuron table scores its forecast on the held-out frames (its
    pooled pVar is the one in the metrics), beside the baselines; its weights are its own."""
    import h5py

    table = pd.read_csv(heldout["per_neuron"])
    assert list(table.columns) == ["neuron", "pvar", "baseline_mean", "baseline_ar1"]
    with h5py.File(heldout["prediction"], "r") as h5:
        target, forecast = h5["target"][()], h5["prediction"][()]
    assert len(table) == target.shape[0] == merged["n_neurons"]
    assert metrics.pvar(forecast.T, target.T) == pytest.approx(merged["pvar_heldout"], abs=1e-5)
    per_neuron = metrics.pvar_per_neuron(forecast, target, time_axis=1)
    assert table["pvar"].to_numpy() == pytest.approx(per_neuron, abs=1e-4)
    assert (table["baseline_mean"] <= 1e-12).all()  # a training mean explains no test variance
    weights = np.load(heldout["weights"])["weights"]
    assert weights.shape == (len(table), len(table))


def _check_scores(merged: dict, run_dir) -> None:
    """Every key of the merged metrics, and the run's spec."""
    for key in (
        "pvar",
        "pvar_per_neuron_median",
        "baseline_pvar_mean",
        "baseline_pvar_ar1",
        "pvar_heldout",
        "baseline_pvar_mean_heldout",
        "baseline_pvar_last_frame_heldout",
        "baseline_pvar_ar1_heldout",
        "iterations_to_half_gain",
        "dale_on_every_path",
        "n_fit_frames",
        "n_validation_frames",
        "wall_time_s",
        "device",
    ):
        assert key in merged, key
    assert merged["normalisation"] == "per_neuron"
    assert merged["iterations"] == 20 and merged["stop_reason"] is None
    assert merged["n_train_frames"] == 48 and merged["n_heldout_frames"] == 12
    assert merged["n_validation_frames"] == 6 and merged["n_fit_frames"] == 42
    assert not (run_dir / "resume").exists()  # training checkpoints removed on success
    assert merged["spec"] == {
        "name": "rate_dale_bptt",
        "dynamics": "rate",
        "dale": True,
        "dale_mode": "fixed",
        "method": "bptt",
        "objective": "rollout",
    }


def _check_files(outputs: dict, scores: dict) -> None:
    """The in-sample fit's files: prediction, per-neuron scores, history, weights, model."""
    with h5py.File(outputs["prediction"]) as h5:
        target, prediction = h5["target"][:], h5["prediction"][:]
    assert target.shape == prediction.shape == (6, 60)
    assert metrics.pvar(prediction[:, 1:].T, target[:, 1:].T) == pytest.approx(
        scores["pvar"], abs=1e-5
    )
    per_neuron = pd.read_csv(outputs["per_neuron"])
    assert list(per_neuron.columns) == ["neuron", "pvar", "baseline_mean", "baseline_ar1"]
    assert np.median(per_neuron["pvar"]) == pytest.approx(scores["pvar_per_neuron_median"])
    history = pd.read_csv(outputs["history"])
    assert list(history["iteration"]) == list(range(20))
    weights = np.load(outputs["weights"])
    w, signs = weights["weights"], weights["neuron_sign"]
    assert w.shape == (6, 6) and signs.shape == (6,)

    model, metadata = fitted.load_fitted_model(outputs["model"])
    # Dale on the trained weights as written (presynaptic x postsynaptic): every existing
    # connection strictly of its presynaptic neuron's sign (no zero row: no neuron silently
    # cut off), removed ones exactly 0, the model's identities, E and I both present
    existing = (model.structural_mask * model.connection_mask).numpy().T
    assert (
        np.array_equal(signs, model.neuron_sign().numpy()) and sorted(signs) == [-1] * 3 + [1] * 3
    )
    assert np.all((w * signs[:, None] > 0) | (existing == 0)) and np.all(w[existing == 0] == 0)
    assert np.array_equal(w, model.effective_connectivity().numpy().T)
    assert metadata["model"] == "rate_dale_bptt"
    again = fitted.rollout(model, target[:, 0], 60)
    assert np.allclose(again.T, prediction, atol=1e-5)


def _check_tabulated_and_ablated(tmp_path, run_dir, outputs, scores, merged) -> None:
    """The run in the convergence table, ablated, and summarised."""
    table = convergence.convergence_table([run_dir / "metrics.json"])
    assert table.loc[0, "model"] == "rate_dale_bptt"
    assert table.loc[0, "iterations_to_half_gain"] == merged["iterations_to_half_gain"]

    curves_path = tmp_path / "ablation" / "toy" / "rate_dale_bptt" / "seed0.csv"
    settings = {
        "fractions": [0.0, 0.5, 1.0],
        "strategies": list(ablation.STRATEGIES),
        "random_repeats": 2,
        "seed": 0,
    }
    curves = ablation.ablate_fitted_model(
        outputs["model"], outputs["prediction"], curves_path, settings
    )
    intact = curves[curves["fraction"] == 0]
    assert np.allclose(intact["pvar"], scores["pvar"], atol=1e-5)
    assert len(curves) == 3 * (2 + 3)
    summary = ablation.summarise_ablation_files(
        [curves_path],
        [{"dataset": "toy", "model": "rate_dale_bptt", "seed": 0}],
        tmp_path / "summary.csv",
    )
    assert set(summary["section"]) == {"auc"}  # one model: no pair to compare
    with open(run_dir / "metrics.json") as fh:
        assert json.load(fh)["model"] == "rate_dale_bptt"


def test_fit_split_names(caplog):
    assert (
        jobs.resolve_split("in_sample") == "in_sample"
        and jobs.resolve_split("heldout") == "heldout"
    )
    with caplog.at_level("WARNING"):
        assert jobs.resolve_split("full") == "in_sample"  # the old name, deprecated
    assert "deprecated" in caplog.text
    with pytest.raises(ValueError, match="split must be 'in_sample' or 'heldout', got 'whole'"):
        jobs.fit_job("whole", None, {}, {})


def test_ablated_model_file_mismatch_is_clear(tmp_path):
    activity = write_recording(tmp_path / "activity.h5")
    run = FitRun.from_params(fit_run(fit_config(epochs=2), "rate_nodale_bptt"))
    outputs = {
        "model": tmp_path / "model.pt",
        "prediction": tmp_path / "prediction.h5",
        "history": tmp_path / "history.csv",
        "per_neuron": tmp_path / "per_neuron.csv",
        "weights": tmp_path / "weights.npz",
        "scores": tmp_path / "scores.json",
    }
    jobs.fit_in_sample_file(activity, outputs, run)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["target"] = np.zeros((3, 60))
    with pytest.raises(ValueError, match="3 neurons but the model"):
        ablation.ablate_fitted_model(
            outputs["model"],
            other,
            tmp_path / "c.csv",
            {
                "fractions": [0, 1],
                "strategies": ["random"],
                "random_repeats": 1,
                "seed": 0,
            },
        )
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.pt: not a readable model file"):
        fitted.load_fitted_model(bad)
    torch.save({"weights": 1}, bad)
    with pytest.raises(ValueError, match="not a fitted activity model"):
        fitted.load_fitted_model(bad)


def test_initialise_from_data_puts_the_rate_network_at_the_mean():
    target = relaxation(n_neurons=5)
    model = fitted.build_network(parse_model_name("rate_dale_bptt"), 5, {}, seed=3)
    fitted.initialise_from_data(model, target)
    mean = target.mean(axis=0)
    # The recording's mean is a fixed point of the initial network.
    assert fitted.rollout(model, mean, 20)[-1] == pytest.approx(mean, abs=1e-5)


def test_initialise_from_data_moves_the_spiking_output_towards_the_mean():
    target = relaxation(n_neurons=5)
    model = fitted.build_network(parse_model_name("spiking_nodale_bptt"), 5, {}, seed=3)
    before = np.abs(fitted.rollout(model, target[0], 50).mean(axis=0) - target.mean(axis=0)).mean()
    fitted.initialise_from_data(model, target)
    after = np.abs(fitted.rollout(model, target[0], 50).mean(axis=0) - target.mean(axis=0)).mean()
    assert after < 0.5 * before
