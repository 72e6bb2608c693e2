"""A teacher recording and the scores of fits against its known circuit."""

from dataclasses import asdict

import numpy as np
import pytest
from neurocircuit.fit import truth as gt
from neurocircuit.fit.recording import Preprocessing, preprocess, preprocess_split
from neurocircuit.imaging.synthetic import (
    SyntheticVolumeSpec,
    calcium_kernel,
    simulate_spikes,
    spikes_to_dff,
)
from neurocircuit.imaging.teacher import (
    build_teacher,
    run_teacher,
    teacher_event_rates,
    teacher_trajectory,
)
from neurocircuit.metrics import predict_time_mean, pvar


@pytest.fixture(scope="module")
def recording():
    """A 40-neuron teacher recording (rates, spikes, clean ΔF/F) without the movie."""
    spec = SyntheticVolumeSpec(n_neurons=40, n_volumes=600, population="teacher", n_ensembles=4)
    rng = np.random.default_rng(3)
    teacher = build_teacher(40, 4, rng=rng, noise=spec.teacher_noise)
    latent, noise_free = teacher_trajectory(teacher, spec.n_volumes, 0.1, rng)
    spikes = simulate_spikes(spec, rng, teacher_event_rates(spec, latent, rng))
    dff = spikes_to_dff(spikes, calcium_kernel(spec))
    truth = {
        "spec": asdict(spec),
        "teacher": {"weight": teacher.weight, "sign": teacher.sign, "rates": latent},
    }
    return {"teacher": teacher, "latent": latent, "noise_free": noise_free, "dff": dff,
            "truth": truth}  # fmt: skip


def test_teacher_is_dale_and_generates_a_sustained_sequence(recording):
    teacher, latent = recording["teacher"], recording["latent"]
    columns = teacher.weight * teacher.sign[None, :]
    assert np.all(columns >= 0), "a presynaptic unit with weights of both signs"
    exc = teacher.sign > 0
    assert exc.mean() == pytest.approx(0.8)
    groups = np.stack([latent[:, exc & (teacher.group == g)].mean(axis=1) for g in range(4)])
    late = groups[:, 300:]
    assert np.all(late.max(axis=1) > 0.8) and np.all(late.min(axis=1) < 0.1)
    # the groups take turns in ring order: after group 0 switches on, 1, 2 and 3 follow
    onsets = [np.flatnonzero((groups[g, 1:] > 0.5) & (groups[g, :-1] <= 0.5)) + 1 for g in range(4)]
    start = onsets[0][0]
    following = [start] + [next(t for t in onsets[g] if t > start) for g in range(1, 4)]
    assert following == sorted(following) and following[-1] - start < 200, following
    # without noise the same start gives a trajectory close to the latent one, not equal
    assert 0 < np.abs(recording["noise_free"] - latent).max()
    again = run_teacher(teacher, 50, 0.1, None, start=latent[0])
    assert np.allclose(again, recording["noise_free"][:50])


def test_teacher_needs_an_inhibitory_unit_per_group():
    with pytest.raises(ValueError, match="one inhibitory unit per group"):
        build_teacher(16, 4, rng=np.random.default_rng(0))


def test_ceiling_explains_the_recording_and_needs_the_right_matching(recording):
    preset = Preprocessing("global", 3.0)
    noisy = recording["dff"] + 0.3 * np.random.default_rng(0).normal(size=recording["dff"].shape)
    target = preprocess(noisy.T, preset)
    index = np.arange(40)
    index[-2:] = -1  # two units the imaging stage did not match
    ceiling = gt.ceiling_pvar(recording["truth"], index, target, 3.0)
    baseline = pvar(predict_time_mean(target)[1:], target[1:])
    assert ceiling > baseline + 0.3
    shuffled = np.random.default_rng(1).permutation(index)
    wrong = gt.ceiling_pvar(recording["truth"], shuffled, target, 3.0)
    assert wrong < ceiling - 0.1  # shuffled units often share a group
    assert gt.gain_fraction(ceiling, baseline, ceiling) == 1.0
    assert gt.gain_fraction(baseline, baseline, ceiling) == 0.0
    assert gt.gain_fraction(0.3, 0.5, 0.4) is None
    assert gt.gain_fraction_undefined_reason(baseline, ceiling) is None
    train, test = preprocess_split(noisy.T, preset, 480)
    held = gt.heldout_ceiling_pvar(recording["truth"], index, train, test, 3.0)
    assert 0.3 < held <= 1.0


def test_gain_fraction_is_null_with_its_reason_below_the_margin():
    # The teacher: a ceiling of 0.098 over a time-mean of 0.081 gave 18 and -30.
    assert gt.gain_fraction(0.4, 0.081, 0.098) is None
    reason = gt.gain_fraction_undefined_reason(0.081, 0.098)
    assert "0.0980 is less than 0.05 (pVar) above the time-mean baseline 0.0810" in reason
    assert gt.gain_fraction(0.2, 0.1, 0.1 + gt.GAIN_FRACTION_MARGIN * 0.99) is None
    assert gt.gain_fraction(0.2, 0.1, 0.16) == pytest.approx(10 / 6)  # 0.06 above: defined
    assert gt.gain_fraction_undefined_reason(0.1, 0.16) is None
    assert "not a number" in gt.gain_fraction_undefined_reason(0.1, float("nan"))


def test_connectivity_scores_against_the_teacher(recording):
    truth, weight = recording["truth"], recording["teacher"].weight
    index = np.arange(40)[::-1].copy()  # recorded units in another order than the neurons
    fitted = weight[np.ix_(index, index)]
    scores = gt.connectivity_scores(truth, index, fitted, learns_sign=True)
    assert scores["weight_corr"] == pytest.approx(1.0)
    assert scores["weight_corr_n"] == 40 * 39 and scores["weight_corr_p"] < 1e-10
    assert scores["sign_accuracy"] == 1.0
    flipped = gt.connectivity_scores(truth, index, -fitted, learns_sign=True)
    assert flipped["weight_corr"] == pytest.approx(-1.0) and flipped["sign_accuracy"] == 0.0
    noise = np.random.default_rng(2).normal(size=(40, 40))
    unrelated = gt.connectivity_scores(truth, index, noise, learns_sign=False)
    assert abs(unrelated["weight_corr"]) < 0.15 and unrelated["sign_accuracy"] is None


def test_regression_start_recovers_a_teacher_from_its_rates(recording):
    """On the teacher's own noise-free rates, the one-step regression start already rolls out
    the sequence, and a Dale network (fixed or learnable signs) takes the teacher's identities."""
    import torch
    from neurocircuit.models.activity import RateActivityNetwork
    from neurocircuit.models.fitted import initialise_by_regression, rollout

    teacher = recording["teacher"]
    rates = recording["noise_free"][:300]
    free = RateActivityNetwork(40, tau=10.0, learn_tau=False, seed=0)
    initialise_by_regression(free, rates, ridge=1e-4)
    assert pvar(rollout(free, rates[0], 300)[1:], rates[1:]) > 0.9
    for mode in ("fixed", "learnable_sign"):
        signed = RateActivityNetwork(40, dale=True, dale_mode=mode, tau=10.0, seed=0)
        initialise_by_regression(signed, rates, ridge=1e-4)
        assert np.mean(signed.neuron_sign().numpy() == teacher.sign) >= 0.9, mode
        weight = signed.recurrent_weight()
        assert torch.all(weight * signed.neuron_sign()[None, :] >= 0)  # Dale's law kept


def test_the_teacher_ablated_loses_what_it_explains(recording):
    teacher = recording["teacher"]
    truth = {
        **recording["truth"],
        "teacher": {
            **recording["truth"]["teacher"],
            "group": teacher.group, "tau_s": teacher.tau_s, "gain": teacher.gain,
            "threshold": teacher.threshold,
        },
    }  # fmt: skip
    target = preprocess(recording["dff"].T, Preprocessing("per_neuron", 3.0))
    weight, score = gt.teacher_rollout_score(truth, np.arange(40), target, 3.0)
    intact = score(np.ones_like(weight))
    assert intact > pvar(predict_time_mean(target)[1:], target[1:]) + 0.2
    assert score(np.zeros_like(weight)) < intact - 0.3  # no connections: no sequence


def test_a_split_scores_against_the_teacher_through_its_spec(recording):
    from neurocircuit.models.names import parse_model_name

    preset = Preprocessing("global", 3.0)
    target = preprocess(recording["dff"].T, preset)
    index, weight = np.arange(40), recording["teacher"].weight
    scores = {"pvar": 0.5, "baseline_pvar_mean": 0.1}
    fixed = gt.in_sample_truth_scores(
        recording["truth"], index, target, 3.0, scores, weight, parse_model_name("rate_dale_bptt")
    )
    ceiling = gt.ceiling_pvar(recording["truth"], index, target, 3.0)
    assert fixed["pvar_ceiling"] == ceiling
    assert fixed["gain_fraction"] == gt.gain_fraction(0.5, 0.1, ceiling)
    assert fixed["gain_fraction"] is not None and fixed["gain_fraction_undefined_reason"] is None
    flat = gt.in_sample_truth_scores(
        recording["truth"], index, target, 3.0, {"pvar": 0.5, "baseline_pvar_mean": ceiling - 0.01},
        weight, parse_model_name("rate_dale_bptt"),
    )  # fmt: skip
    assert (
        flat["gain_fraction"] is None and "less than 0.05" in flat["gain_fraction_undefined_reason"]
    )
    assert fixed["weight_corr"] == pytest.approx(1.0) and fixed["sign_accuracy"] is None
    learnt = gt.in_sample_truth_scores(
        recording["truth"],
        index,
        target,
        3.0,
        scores,
        weight,
        parse_model_name("rate_dalesign_bptt"),
    )
    assert learnt["sign_accuracy"] == 1.0  # dalesign learns the signs: scored
    train, test = preprocess_split(recording["dff"].T, preset, 480)
    held = gt.heldout_truth_scores(
        recording["truth"], index, train, test, 3.0,
        {"pvar_heldout": 0.2, "baseline_pvar_mean_heldout": 0.0},
    )  # fmt: skip
    assert held["pvar_ceiling_heldout"] == gt.heldout_ceiling_pvar(
        recording["truth"], index, train, test, 3.0
    )
    assert held["gain_fraction_heldout"] == gt.gain_fraction(0.2, 0.0, held["pvar_ceiling_heldout"])
    assert held["gain_fraction_heldout_undefined_reason"] is None
