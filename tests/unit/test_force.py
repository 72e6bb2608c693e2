"""FORCE (recursive least squares) for rate networks: the update by hand, the inverted drive, a
known circuit recovered, refusals, resume, and the settings that reach FORCE runs only."""

import numpy as np
import pytest
import torch
from neurocircuit.fit.settings import method_training, resolve_fit_settings
from neurocircuit.fit.training import history_rows, train_on_sequence
from neurocircuit.imaging.teacher import build_teacher, run_teacher
from neurocircuit.learning import SequenceFitTask, TrainConfig, train
from neurocircuit.learning.force import (
    RecursiveLeastSquares,
    force_pass,
    rls_update,
    target_drive,
)
from neurocircuit.metrics import pvar
from neurocircuit.models.activity import RateActivityNetwork, SpikingActivityNetwork
from neurocircuit.models.names import parse_model_name


def test_rls_update_matches_a_step_by_hand():
    """W = I, P = I / 2 (alpha = 2), r = (1, 2), target (0, 1): e = (1, 1), k = P r =
    (1/2, 1), r.k = 5/2, c = 2/7; P' = P - c k k^T, W' = W - c e k^T."""
    weight = torch.eye(2, dtype=torch.float64)
    inverse_correlation = torch.eye(2, dtype=torch.float64) / 2.0
    rate = torch.tensor([1.0, 2.0], dtype=torch.float64)
    target = torch.tensor([0.0, 1.0], dtype=torch.float64)
    new_weight, new_p = rls_update(weight, inverse_correlation, rate, weight @ rate - target)
    by_hand_w = torch.tensor([[6 / 7, -2 / 7], [-1 / 7, 5 / 7]], dtype=torch.float64)
    by_hand_p = torch.tensor([[3 / 7, -1 / 7], [-1 / 7, 3 / 14]], dtype=torch.float64)
    torch.testing.assert_close(new_weight, by_hand_w)
    torch.testing.assert_close(new_p, by_hand_p)
    # the a-posteriori error is the a-priori one shrunk by 1 + r^T P r; P' by Sherman-Morrison
    torch.testing.assert_close(new_weight @ rate - target, (weight @ rate - target) / 3.5)
    expected_p = torch.linalg.inv(torch.linalg.inv(inverse_correlation) + torch.outer(rate, rate))
    torch.testing.assert_close(new_p, expected_p)


def test_rls_starts_at_identity_over_alpha():
    model = RateActivityNetwork(3, seed=0)
    rls = RecursiveLeastSquares(model, alpha=4.0)
    torch.testing.assert_close(rls.inverse_correlation, torch.eye(3, dtype=torch.float64) / 4)


@pytest.mark.parametrize("wilson_cowan", ["default", "neurotorch"])
def test_target_drive_of_a_networks_own_rollout_is_its_drive(wilson_cowan):
    """The inverted update gives back W x_{t-1} on data the network made itself, so the
    network that made the data is a fixed point of a FORCE pass."""
    model = RateActivityNetwork(
        6, tau=4.0, weight_scale=2.0, threshold=0.5, wilson_cowan=wilson_cowan, seed=1
    )
    model.double()
    x0 = torch.rand(1, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        x = model(x0, 40)[:, 0]
    weight = model.weight.detach().clone()
    torch.testing.assert_close(target_drive(model, x), x[:-1] @ weight.t())
    force_pass(model, x, RecursiveLeastSquares(model))
    torch.testing.assert_close(model.weight.detach(), weight)


def test_force_passes_solve_the_ridge_problem_over_every_step_seen():
    """RLS is recursive ridge regression: after two passes (P kept between them), W solves
    min_W sum_t |W r_{t-1} - a*_t|^2 + alpha |W - W_0|^2 over the rates r of both passes, and
    P = (alpha I + sum_t r r^T)^-1."""
    alpha = 0.5
    source = RateActivityNetwork(5, tau=3.0, weight_scale=3.0, seed=3).double()
    with torch.no_grad():
        target = source(torch.full((1, 5), 0.3, dtype=torch.float64), 30)[:, 0]
    model = RateActivityNetwork(5, tau=3.0, seed=0).double()
    start = model.weight.detach().clone()
    rls = RecursiveLeastSquares(model, alpha=alpha)
    rates = torch.cat([force_pass(model, target, rls)[:-1] for _ in range(2)])
    drives = target_drive(model, target).repeat(2, 1)
    gram = alpha * torch.eye(5, dtype=torch.float64) + rates.t() @ rates
    ridge = torch.linalg.solve(gram, alpha * start.t() + rates.t() @ drives).t()
    torch.testing.assert_close(model.weight.detach(), ridge)
    torch.testing.assert_close(rls.inverse_correlation, torch.linalg.inv(gram))
    assert not torch.allclose(ridge, start, atol=1e-2)


def test_force_runs_the_network_on_its_own_rates():
    """Between updates the network is never fed the data: a pass without updates runs through
    the network's own rollout from the first frame."""
    _, recording = ring_teacher_recording(60)
    model = RateActivityNetwork(20, tau=5.0, seed=0).double()
    target = torch.as_tensor(recording)
    rates = force_pass(model, target, RecursiveLeastSquares(model, every=len(target)))
    torch.testing.assert_close(rates, SequenceFitTask().predict(model, target))
    assert not torch.allclose(rates[1:], target[1:], atol=0.05)


def ring_teacher_recording(n_steps: int = 300):
    """A noise-free recording of a known Wilson–Cowan circuit (20 units in a ring of 4 groups
    that generates a travelling wave; tau = 5 frames, gain 1): (teacher W, rates (T, N))."""
    rng = np.random.default_rng(0)
    teacher = build_teacher(20, 4, rng=rng, tau_s=1.0)
    burn_in = run_teacher(teacher, 200, 0.2, rng)
    return teacher.weight, run_teacher(teacher, n_steps, 0.2, None, start=burn_in[-1])


def fit_by_force(recording, passes: int = 8, validation_frames: int = 0):
    return train_on_sequence(
        recording,
        parse_model_name("rate_nodale_force"),
        network_options={"rate": {"tau": 5.0}},
        training={"force": {"alpha": 1.0, "passes": passes}, "progress": False},
        seed=0,
        device="cpu",
        validation_frames=validation_frames,
    )


def test_force_recovers_a_known_circuit():
    """Measured (8 passes): rollout pVar 0.998, weight correlation 0.63 with the teacher's (the
    random start: -0.08); the travelling wave does not pin every weight down."""
    teacher_weight, recording = ring_teacher_recording()
    start = RateActivityNetwork(20, tau=5.0, seed=0).weight.detach().numpy()
    run = fit_by_force(recording)
    model = run.model
    prediction = SequenceFitTask().predict(model, recording).numpy()
    weight = model.weight.detach().numpy()
    assert pvar(prediction[1:], recording[1:]) > 0.95
    assert np.corrcoef(weight.ravel(), teacher_weight.ravel())[0, 1] > 0.5
    assert abs(np.corrcoef(start.ravel(), teacher_weight.ravel())[0, 1]) < 0.2
    rows = history_rows(run.result.history)
    assert [row["iteration"] for row in rows] == list(range(8))
    assert rows[0]["pvar"] < 0.5 < max(row["pvar"] for row in rows)
    assert all(np.isnan(row["lr"]) and row["elapsed_s"] > 0 for row in rows)


def test_force_never_sees_the_validation_block_and_keeps_its_best_pass():
    _, recording = ring_teacher_recording(200)
    changed = recording.copy()
    changed[-40:] = 1.0 - recording[-40:]
    runs = [fit_by_force(data, passes=4, validation_frames=40) for data in (recording, changed)]
    history = runs[0].result.history
    fit_scores = [[row["train_score"] for row in run.result.history] for run in runs]
    assert fit_scores[0] == fit_scores[1]  # the same weights pass after pass
    scores = [row["val_score"] for row in history]
    assert runs[0].result.best_epoch == int(np.argmax(scores)) + 1
    kept = SequenceFitTask(validation_frames=40).evaluate(runs[0].model, recording)
    assert kept["score"] == pytest.approx(max(scores))


def test_force_resumes_exactly_from_its_checkpoint(tmp_path):
    _, recording = ring_teacher_recording(150)
    cfg = TrainConfig(method="force", epochs=4, progress=False, seed=0, device="cpu")
    checkpoint = tmp_path / "force.pt"

    def trained(stop_after=None):
        model = RateActivityNetwork(20, tau=5.0, seed=0)

        def stop(row):
            if row["epoch"] == stop_after:
                raise KeyboardInterrupt

        try:
            train(model, SequenceFitTask(), recording, None, cfg,
                  checkpoint_path=checkpoint, on_epoch_end=stop)  # fmt: skip
        except KeyboardInterrupt:
            return None
        return model

    whole = trained()
    checkpoint.unlink()
    assert trained(stop_after=2) is None
    resumed = trained()
    torch.testing.assert_close(resumed.weight, whole.weight, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("spiking_nodale_force", "rate networks only"),
        ("spiking_dale_force", "rate networks only"),
        ("rate_dale_force", "no principled projection"),
        ("rate_dalesign_force", "no principled projection"),
    ],
)
def test_force_is_refused_for_spiking_and_dale_names(name, reason):
    with pytest.raises(ValueError, match=reason) as error:
        parse_model_name(name)
    assert "\n" not in str(error.value) and name in str(error.value)


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (SpikingActivityNetwork(4, seed=0), "rate networks only"),
        (RateActivityNetwork(4, dale=True, seed=0), "no principled projection"),
        (RateActivityNetwork(4, self_connections=False, seed=0), "every unit"),
    ],
)
def test_force_refuses_networks_it_cannot_fit(model, reason):
    with pytest.raises(ValueError, match=reason):
        RecursiveLeastSquares(model)


def test_force_has_no_learning_rate_to_schedule():
    with pytest.raises(ValueError, match="lr_schedule must be 'none' for method 'force'"):
        TrainConfig(method="force", lr_schedule="cosine")


def test_force_settings_reach_force_runs_only():
    fit = {
        "preprocessing": {},
        "network": {},
        "training": {
            "epochs": 500,
            "lr": 0.01,
            "stop_pvar": 0.98,
            "eval_every": 10,
            "force": {"alpha": 2.0, "passes": 7, "every": 1},
        },  # fmt: skip
        "heldout_fraction": 0.2,
        "validation_fraction": 0.125,
        "ar1_ridge": None,
        "max_neurons": None,
        "max_frames": None,
        "model_settings": {"rate_nodale_force": {"training": {"eval_every": 1}}},
        "zebrafish": {"frame_period_s": 0.9},
    }
    bptt = resolve_fit_settings(fit, "zebrafish", "rate_nodale_bptt")["training"]
    force = resolve_fit_settings(fit, "zebrafish", "rate_nodale_force")["training"]
    assert bptt == {"epochs": 500, "lr": 0.01, "stop_pvar": 0.98, "eval_every": 10}
    assert force == {"stop_pvar": 0.98, "eval_every": 1,
                     "force": {"alpha": 2.0, "passes": 7, "every": 1}}  # fmt: skip
    with pytest.raises(ValueError, match="refused"):
        method_training(fit["training"], "rate_dale_force")
