"""The resilience protocol (NeuroTorch's ``smallest_rm`` / ``random_rm``, pVar / intact pVar, the
area truncated at the first pVar <= 0) and its mean-drive control, on tiny networks: hand-worked
areas, the intact and fully ablated ends of a curve, seeded repeats, the batched rollout against
the networks' own rollouts, and a network whose removed connections carry a constant input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from neurocircuit.ablation import ablation_mask
from neurocircuit.ablation.resilience import (
    AREA_COLUMNS,
    CURVE_COLUMNS,
    ranking_matrix,
    removal_orders,
    resilience_areas,
    resilience_curve,
    truncated_area,
)
from neurocircuit.ablation.resilience_rollout import batched_rollout, intact_weight, network_copy
from neurocircuit.metrics import pvar
from neurocircuit.models.activity import RateActivityNetwork, SpikingActivityNetwork
from neurocircuit.models.fitted import rollout

LEVELS = [0.0, 0.25, 0.5, 0.75, 1.0]


def rate_network(n=6, **options):
    return RateActivityNetwork(n, seed=3, weight_scale=2.0, tau=3.0, **options).double()


def spiking_network(n=6, **options):
    net = SpikingActivityNetwork(n, seed=3, weight_scale=3.0, bias_current=0.6, **options)
    return net.double()


def recording(model, n_frames=40, seed=0):
    """The network's own rollout plus noise, clipped to [0, 1]: a target it fits well."""
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(0.2, 0.8, model.n_units)
    clean = rollout(model, x0, n_frames)
    return np.clip(clean + 0.05 * rng.standard_normal(clean.shape), 0.0, 1.0)


def looped_pvar(model, target, mask):
    """The reference: the network's own rollout (compiled kernels) with the mask set."""
    net = network_copy(model)
    net.set_connection_mask(mask)
    prediction = rollout(net, target[0], target.shape[0])
    return pvar(prediction[1:], target[1:])


# ---------------------------------------------------------------- the truncated area
def test_truncated_area_on_a_hand_curve():
    levels = [0.0, 0.25, 0.5, 0.75, 1.0]
    # ratios 1, 0.75, 0.25, -0.125, 0.5: cut at 0.75 (first <= 0), which is dropped too
    area = truncated_area(levels, [0.8, 0.6, 0.2, -0.1, 0.4])
    assert area == pytest.approx(0.25 * (1 + 0.75) / 2 + 0.25 * (0.75 + 0.25) / 2)  # 0.34375
    # no ratio <= 0: the whole curve, trapezoids, not divided by the span
    assert truncated_area([0.0, 0.5], [2.0, 1.0]) == pytest.approx(0.375)
    assert truncated_area([0.0, 0.5, 1.0], [1.0, 1.0, 1.0]) == pytest.approx(1.0)
    # a ratio of exactly 0 cuts too; unsorted levels are sorted first
    assert truncated_area([0.5, 0.0, 1.0], [0.5, 1.0, 0.0]) == pytest.approx(0.375)


def test_truncated_area_without_two_points_or_a_positive_start_is_nan():
    assert math.isnan(truncated_area([0.0, 0.5, 1.0], [0.5, -0.1, 0.3]))
    assert truncated_area([0.0, 0.5, 1.0], [0.5, -0.1, 0.3], no_area=0.0) == 0.0
    assert math.isnan(truncated_area([0.0, 0.5, 1.0], [-0.2, -0.1, -0.3], no_area=0.0))
    assert math.isnan(truncated_area([0.0, 0.5, 1.0], [-0.2, -0.1, -0.3]))
    assert math.isnan(truncated_area([0.0, 0.5, 1.0], [0.0, 0.1, 0.3]))
    # NaN points are left out, not a cut
    assert truncated_area([0.0, 0.5, 1.0], [1.0, np.nan, 1.0]) == pytest.approx(1.0)


def test_levels_are_rounded_to_two_decimals_as_neurotorch_does():
    levels = [0.0, 1 / 99, 2 / 99]
    values = [1.0, 1.0, 1.0]
    assert truncated_area(levels, values) == pytest.approx(0.02)
    assert truncated_area(levels, values, decimals=None) == pytest.approx(2 / 99)


# ---------------------------------------------------------------- curves
def test_intact_level_gives_ratio_one_and_the_fit_s_pvar():
    model = rate_network()
    target = recording(model)
    curves = resilience_curve(model, target, "weakest_global", LEVELS, controls=("none",))
    assert list(curves.columns) == list(CURVE_COLUMNS)
    intact = curves[curves["level"] == 0.0].iloc[0]
    assert intact["pvar_ratio"] == pytest.approx(1.0, abs=1e-12)
    expected = pvar(rollout(model, target[0], target.shape[0])[1:], target[1:])
    assert expected > 0.5
    assert intact["pvar"] == pytest.approx(expected, abs=1e-9)
    assert curves["pvar"].iloc[-1] < expected - 0.05  # removing everything costs


@pytest.mark.parametrize("network", [rate_network, spiking_network])
def test_weakest_global_at_level_one_removes_every_recurrent_connection(network):
    model = network()
    target = recording(model)
    curves = resilience_curve(model, target, "weakest_global", [0.0, 1.0], controls=("none",))
    assert curves["repeat"].tolist() == [0, 0]
    order = removal_orders(network_copy(model), "weakest_global", 1, 0)[0]
    assert order.size == model.n_units**2  # dense W: every entry a connection
    no_coupling = looped_pvar(model, target, np.zeros((model.n_units, model.n_units)))
    assert curves["pvar"].iloc[1] == pytest.approx(no_coupling, abs=1e-9)
    assert abs(curves["pvar"].iloc[1] - curves["pvar"].iloc[0]) > 0.01


def test_weakest_global_removes_the_smallest_magnitudes_first():
    model = rate_network(n=4)
    net = network_copy(model)
    magnitude = intact_weight(net).abs().numpy().ravel()
    order = removal_orders(net, "weakest_global", 1, 0)[0]
    assert list(order) == list(np.argsort(magnitude, kind="stable"))


def test_learnable_sign_dale_ranks_the_raw_parameter():
    model = rate_network(n=5, dale=True, dale_mode="learnable_sign")
    dale = model.parametrizations.weight[0]
    with torch.no_grad():  # sign factors |tanh(s)| from 0.05 to 1: |W| and |M| order differently
        dale.sign_parameter.copy_(torch.tensor([0.05, -3.0, 0.2, -0.1, 3.0], dtype=torch.float64))
    net = network_copy(model)
    raw = model.parametrizations.weight.original.detach().abs().numpy()
    assert np.array_equal(ranking_matrix(net), raw)
    order = removal_orders(net, "weakest_global", 1, 0)[0]
    by_weight = np.argsort(intact_weight(net).abs().numpy().ravel(), kind="stable")
    assert list(order) == list(np.argsort(raw.ravel(), kind="stable"))
    assert list(order) != list(by_weight)


@pytest.mark.parametrize("dale_mode", ["fixed", "learnable_sign"])
def test_class_balanced_weakest_keeps_both_classes_at_the_same_share(dale_mode):
    model = rate_network(n=10, dale=True, dale_mode=dale_mode)
    net = network_copy(model)
    weight = intact_weight(net).numpy().ravel()
    key = ranking_matrix(net).ravel()
    order = removal_orders(net, "weakest", 1, 0)[0]
    assert sorted(order) == sorted(np.flatnonzero(weight))
    inhibitory = weight[order] < 0
    assert 0 < inhibitory.sum() < inhibitory.size
    for members in (inhibitory, ~inhibitory):  # within a class: the smallest ranked first
        assert np.all(np.diff(key[order[members]]) >= 0)
    # after every prefix both classes have lost the same share, to one connection
    lost_i = np.cumsum(inhibitory) / inhibitory.sum()
    lost_e = np.cumsum(~inhibitory) / (~inhibitory).sum()
    assert np.max(np.abs(lost_i - lost_e)) <= 1.0 / min(inhibitory.sum(), (~inhibitory).sum())
    # unlike the global order, which takes the smaller class's weakest all together
    glob = removal_orders(net, "weakest_global", 1, 0)[0]
    assert list(glob) != list(order)


def test_random_repeats_are_seeded():
    model = rate_network()
    target = recording(model)
    kwargs = dict(levels=[0.0, 0.5], repeats=3, controls=("none",))
    first = resilience_curve(model, target, "random", seed=4, **kwargs)
    again = resilience_curve(model, target, "random", seed=4, **kwargs)
    other = resilience_curve(model, target, "random", seed=5, **kwargs)
    pd.testing.assert_frame_equal(first, again)
    assert sorted(first["repeat"].unique()) == [0, 1, 2]
    half = first[first["level"] == 0.5]["pvar"].to_numpy()
    assert len(set(np.round(half, 12))) == 3  # three different draws
    # seed 5's repeat 0 is seed 4's repeat 1
    shifted = other[(other["level"] == 0.5) & (other["repeat"] == 0)]["pvar"].iloc[0]
    assert shifted == pytest.approx(half[1], abs=1e-12)
    assert not np.allclose(other[other["level"] == 0.5]["pvar"].to_numpy(), half)


@pytest.mark.parametrize(
    "network",
    [rate_network, lambda: rate_network(wilson_cowan="neurotorch", dale=True), spiking_network,
     lambda: spiking_network(readout="full", steps_per_frame=2)],
    ids=["rate", "rate_neurotorch_dale", "spiking", "spiking_full_readout"],
)  # fmt: skip
def test_batched_repeats_equal_looped_rollouts(network):
    model = network()
    target = recording(model)
    curves = resilience_curve(
        model, target, "random", LEVELS, repeats=4, seed=2, controls=("none",), batch_size=7,
        rollouts="batched",
    )  # fmt: skip
    assert len(curves) == len(LEVELS) * 4
    key = np.abs(intact_weight(network_copy(model)).numpy())
    looped = []
    for row in curves.itertuples():
        mask = ablation_mask(key, "random", row.level, seed=2 + row.repeat)
        if getattr(model, "readout", "diagonal") == "full":
            expected = full_readout_reference(model, target, mask)
        else:
            expected = looped_pvar(model, target, mask)
        looped.append(expected)
    assert np.allclose(curves["pvar"], looped, rtol=0, atol=1e-6)
    assert np.ptp(looped) > 0.01  # the masks matter


def full_readout_reference(model, target, mask):
    """Only W is ablated (NeuroTorch's protocol): W masked in the parameter itself, so the full
    readout's W_out keeps every entry (``set_connection_mask`` would remove both)."""
    net = network_copy(model)
    with torch.no_grad():
        net.weight.mul_(torch.as_tensor(mask))
    prediction = rollout(net, target[0], target.shape[0])
    return pvar(prediction[1:], target[1:])


# ---------------------------------------------------------------- the mean-drive control
def constant_source_rate_network():
    """Unit 0 receives nothing and sits at its fixed point x0[0] = 0.3, so its outgoing
    connections (column 0, the weakest) carry a constant input; 12 connections in all."""
    model = rate_network(n=4)
    rng = np.random.default_rng(1)
    weight = rng.choice([-1, 1], (4, 4)) * rng.uniform(1.5, 3.0, (4, 4))
    weight[0] = 0.0
    weight[1:, 0] = [0.8, -1.0, 0.9]
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(weight))
        model.threshold[0] = -math.log(0.3 / 0.7)
    return model


def constant_source_spiking_network():
    """Unit 0 receives nothing, has no bias current and starts at r = 0, so it never spikes and
    reads out sigmoid(c_0) = 0.3 at every frame."""
    model = spiking_network(n=4)
    rng = np.random.default_rng(1)
    weight = rng.choice([-1, 1], (4, 4)) * rng.uniform(1.5, 3.0, (4, 4))
    weight[0] = 0.0
    weight[1:, 0] = [0.8, -1.0, 0.9]
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(weight))
        model.bias_current[0] = 0.0
        model.readout_bias[0] = math.log(0.3 / 0.7)
    return model


@pytest.mark.parametrize("rollouts", ["batched", "looped"])
@pytest.mark.parametrize("network", [constant_source_rate_network, constant_source_spiking_network])
def test_mean_drive_restores_a_constant_input_exactly(network, rollouts):
    model = network()
    target = recording(model, n_frames=60)
    target[0, 0] = 0.3
    curves = resilience_curve(
        model, target, "weakest_global", [0.0, 0.25], controls=CONTROLS_BOTH, rollouts=rollouts
    )
    removed = curves[curves["level"] == 0.25].set_index("control")
    assert removed.loc["mean_drive", "pvar_ratio"] == pytest.approx(1.0, abs=1e-9)
    assert abs(removed.loc["none", "pvar_ratio"] - 1.0) > 0.02
    # the frames themselves: column 0 removed, the control gives back W[:, 0] * 0.3
    net = network_copy(model)
    weight = intact_weight(net)
    mask = torch.ones(4, 4, dtype=weight.dtype)
    mask[1:, 0] = 0.0
    assert torch.equal(
        torch.as_tensor(ablation_mask(ranking_matrix(net), "weakest_global", 0.25)), mask
    )
    intact = batched_rollout(net, target[0], 60, weight[None])[:, 0]
    assert np.allclose(intact[:, 0], 0.3, atol=1e-12)
    shift = (weight[:, 0] * 0.3)[None]
    controlled = batched_rollout(net, target[0], 60, (weight * mask)[None], shift)[:, 0]
    plain = batched_rollout(net, target[0], 60, (weight * mask)[None])[:, 0]
    assert np.allclose(controlled, intact, atol=1e-9)
    assert np.abs(plain[1:].mean(axis=0) - intact[1:].mean(axis=0)).max() > 0.02


CONTROLS_BOTH = ("none", "mean_drive")


@pytest.mark.parametrize("network", [rate_network, spiking_network])
def test_looped_rollouts_with_shifted_biases_equal_the_batched_input_shift(network):
    model = network()
    target = recording(model)
    kwargs = dict(levels=LEVELS, repeats=3, seed=1, batch_size=4)
    looped = resilience_curve(model, target, "random", rollouts="looped", **kwargs)
    batched = resilience_curve(model, target, "random", rollouts="batched", **kwargs)
    pd.testing.assert_frame_equal(looped, batched, check_exact=False, rtol=0, atol=1e-6)
    drive = looped[looped["control"] == "mean_drive"]["pvar"].to_numpy()
    plain = looped[looped["control"] == "none"]["pvar"].to_numpy()
    assert np.abs(drive - plain).max() > 0.01  # the control changes the curves


def test_mean_drive_changes_nothing_at_level_zero_and_matches_at_level_one():
    model = rate_network()
    target = recording(model)
    curves = resilience_curve(model, target, "random", [0.0, 1.0], repeats=2)
    intact = curves[curves["level"] == 0.0]
    assert np.allclose(intact["pvar_ratio"], 1.0, atol=1e-12)
    full = curves[curves["level"] == 1.0].groupby("control")["pvar"]
    assert full.nunique().tolist() == [1, 1]  # every order removes everything at level 1
    assert full.first()["mean_drive"] != pytest.approx(full.first()["none"], abs=1e-3)


# ---------------------------------------------------------------- areas and bad input
def test_area_table_per_score_and_repeat_mean():
    rows = []
    curves = ([0.8, 0.6, 0.2, -0.1, 0.4], [0.8, 0.8, 0.8, 0.8, 0.8], [0.8, -0.1, 0.5, 0.5, 0.5])
    for repeat, values in enumerate(curves):
        for level, value in zip(LEVELS, values, strict=True):
            rows.append(dict(dataset="d", model="m", seed=0, strategy="random", control="none",
                             level=level, repeat=repeat, pvar=value, pvar_ratio=value / 0.8,
                             pvar_per_neuron_median=value / 2))  # fmt: skip
    areas = resilience_areas(pd.DataFrame(rows, columns=list(CURVE_COLUMNS)))
    assert list(areas.columns) == list(AREA_COLUMNS)
    assert areas["score"].tolist() == ["ratio", "per_neuron"]
    assert np.allclose(areas["area"], (0.34375 + 1.0) / 2)  # the collapsed curve left out
    counted = resilience_areas(pd.DataFrame(rows, columns=list(CURVE_COLUMNS)), no_area=0.0)
    assert np.allclose(counted["area"], (0.34375 + 1.0 + 0.0) / 3)


def test_bad_inputs_give_clear_errors():
    model = rate_network()
    target = recording(model)
    with pytest.raises(ValueError, match="unknown strategy 'strongest'"):
        resilience_curve(model, target, "strongest", LEVELS)
    with pytest.raises(ValueError, match=r"target must have shape \(T >= 3, 6\)"):
        resilience_curve(model, target[:, :5], "random", LEVELS)
    with pytest.raises(ValueError, match="levels must be"):
        resilience_curve(model, target, "random", [0.0, 1.5])
    with pytest.raises(ValueError, match="unknown control 'refit'"):
        resilience_curve(model, target, "random", LEVELS, controls=("refit",))
    with pytest.raises(ValueError, match="rollouts must be one of"):
        resilience_curve(model, target, "random", LEVELS, rollouts="fast")
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        resilience_curve(model, target, "random", LEVELS, repeats=0)


# ---------------------------------------------------------------- the teacher
@pytest.fixture(scope="module")
def teacher_recording():
    """A 40-neuron teacher recording (ΔF/F without the movie), as in test_fit_truth."""
    from dataclasses import asdict

    from neurocircuit.fit.recording import Preprocessing, preprocess
    from neurocircuit.imaging.synthetic import (
        SyntheticVolumeSpec,
        calcium_kernel,
        simulate_spikes,
        spikes_to_dff,
    )
    from neurocircuit.imaging.teacher import build_teacher, teacher_event_rates, teacher_trajectory

    spec = SyntheticVolumeSpec(n_neurons=40, n_volumes=300, population="teacher", n_ensembles=4)
    rng = np.random.default_rng(3)
    teacher = build_teacher(40, 4, rng=rng, noise=spec.teacher_noise)
    latent, _ = teacher_trajectory(teacher, spec.n_volumes, 1.0 / spec.volume_rate_hz, rng)
    dff = spikes_to_dff(
        simulate_spikes(spec, rng, teacher_event_rates(spec, latent, rng)), calcium_kernel(spec)
    )
    arrays = {key: getattr(teacher, key) for key in ("weight", "sign", "group", "tau_s", "gain")}
    truth = {"spec": asdict(spec),
             "teacher": {**arrays, "threshold": teacher.threshold, "rates": latent}}  # fmt: skip
    return truth, preprocess(dff.T, Preprocessing("per_neuron", 3.0))


def test_the_teacher_s_curves_match_its_ablation_scorer(teacher_recording):
    from neurocircuit.ablation.resilience_teacher import teacher_resilience_curve
    from neurocircuit.fit.truth import teacher_rollout_score

    truth, target = teacher_recording
    curves = teacher_resilience_curve(
        truth, np.arange(40), target, 3.0, "random", [0.0, 0.5, 1.0], repeats=2, seed=1
    )
    assert list(curves.columns) == list(CURVE_COLUMNS)
    assert set(curves["model"]) == {"teacher"} and len(curves) == 3 * 2 * 2
    weight, score = teacher_rollout_score(truth, np.arange(40), target, 3.0)
    plain = curves[curves["control"] == "none"]
    for row in plain.itertuples():
        mask = ablation_mask(weight, "random", row.level, seed=1 + row.repeat)
        assert row.pvar == pytest.approx(score(mask), abs=1e-12)
    intact = curves[curves["level"] == 0.0]
    assert np.allclose(intact["pvar_ratio"], 1.0) and intact["pvar"].iloc[0] > 0.3
    full = curves[curves["level"] == 1.0].groupby("control")["pvar"].mean()
    assert full["none"] < intact["pvar"].iloc[0] - 0.3  # no connections: no sequence
    assert full["mean_drive"] != pytest.approx(full["none"], abs=1e-3)


def test_curves_of_a_fitted_model_file(tmp_path):
    import h5py
    from neurocircuit.ablation.resilience import fitted_resilience_curves
    from neurocircuit.models.fitted import save_fitted_model

    model = rate_network()
    target = recording(model)
    save_fitted_model(model, tmp_path / "model.pt", {})
    with h5py.File(tmp_path / "prediction.h5", "w") as h5:
        h5["target"] = target.T
    settings = dict(strategies=["weakest_global", "random"], levels=[0.0, 0.5], repeats=2, seed=0)
    labels = dict(dataset="d", model="rate_nodale_bptt", seed=3)
    curves = fitted_resilience_curves(tmp_path / "model.pt", tmp_path / "prediction.h5",
                                      settings, labels)  # fmt: skip
    assert len(curves) == (2 + 2 * 2) * 2  # (1 + 2 orders) x 2 levels x 2 controls
    assert set(curves["seed"]) == {3} and set(curves["dataset"]) == {"d"}
    direct = resilience_curve(model, target, "random", [0.0, 0.5], 2, 0, labels=labels)
    from_file = curves[curves["strategy"] == "random"].reset_index(drop=True)
    assert np.allclose(from_file["pvar"], direct["pvar"], rtol=0, atol=1e-6)  # saved float32
    with h5py.File(tmp_path / "prediction.h5", "w") as h5:
        h5["target"] = target[:, :5].T
    with pytest.raises(ValueError, match="prediction.h5: 5 neurons but the model"):
        fitted_resilience_curves(tmp_path / "model.pt", tmp_path / "prediction.h5", settings)
