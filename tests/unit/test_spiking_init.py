"""Spiking units initialised from the data (models.spiking_init): the discrete LIF rate curve
inverted, and, at initialisation, spikes in a rollout on a synthetic stand-in, on the demo's
recording and on the zebrafish recording (each where present)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from neurocircuit.fit.recording import Preprocessing, load_activity, preprocess
from neurocircuit.models import fitted, spiking_init
from neurocircuit.models.dynamics.lif_syn import LIFSynParams, lif_syn_initial_state, lif_syn_step
from neurocircuit.models.names import parse_model_name

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).parents[2]
DEMO_ACTIVITY = [
    ROOT / "results" / "imaging" / "synthetic" / "activity.h5",
    ROOT.parent / "demo_after" / "results" / "imaging" / "synthetic" / "activity.h5",
]
ZEBRAFISH = ROOT.parent / "shared" / "data" / "zebrafish" / "Stimulus_data_2022_02_23_fish3_1.npy"
SPIKING = {"tau_mem": 0.5, "tau_syn": 0.25}
"""config.yaml's spiking time constants (frames); its 5 sub-steps a frame are given per test."""


def simulated_period(current: float, alpha: float, beta: float, n_steps: int = 400) -> float:
    """Sub-steps between the last two spikes of one unit under a constant input per sub-step
    that makes the synaptic current settle at ``current`` (lif_syn_step itself)."""
    params = LIFSynParams(alpha=alpha, beta=beta, threshold=1.0)
    state = lif_syn_initial_state(1, 1, dtype=torch.float64)
    drive = torch.full((1, 1), current * (1.0 - alpha), dtype=torch.float64)
    times = []
    for step in range(n_steps):
        z, state = lif_syn_step(drive, state, params)
        if z.item() > 0:
            times.append(step)
    return float(times[-1] - times[-2]) if len(times) > 1 else float("inf")


@pytest.mark.parametrize("sub_steps", [1, 5])
@pytest.mark.parametrize("period", [2, 3, 6])
def test_the_target_current_fires_every_period_sub_steps(sub_steps, period):
    alpha, beta = np.exp(-1.0 / sub_steps / 0.25), np.exp(-1.0 / sub_steps / 0.5)
    current = spiking_init.target_current(period, beta, 1.0)
    assert spiking_init.spike_period(current, beta, 1.0) == period
    assert simulated_period(current, alpha, beta) == period
    # The window's edges: just below I_k the unit is slower, at I_(k-1) it is faster.
    edge = spiking_init.threshold_current(period, beta, 1.0)
    assert simulated_period(edge * 0.999, alpha, beta) > period
    faster = spiking_init.threshold_current(period - 1, beta, 1.0)
    assert simulated_period(faster * 1.001, alpha, beta) < period
    with pytest.raises(ValueError, match="at least 2 sub-steps"):
        spiking_init.target_current(1, beta, 1.0)


def calcium_like(n_neurons=40, n_frames=400, seed=0):
    """(T, N) sparse events decaying over 10 frames, per-neuron min-max and smoothed (σ = 3
    frames) as the demo's fit preprocesses them: mostly low, with transients."""
    rng = np.random.default_rng(seed)
    events = rng.random((n_frames, n_neurons)) < rng.uniform(0.01, 0.05, n_neurons)
    kernel = np.exp(-np.arange(40) / 10.0)
    traces = np.stack([np.convolve(e, kernel)[:n_frames] for e in events.T.astype(float)], 1)
    traces += 0.1 * rng.standard_normal(traces.shape)
    return preprocess(traces, Preprocessing("per_neuron", 3.0))


def spiking_model(target, model="spiking_dale_bptt", seed=0, **spiking):
    options = {"spiking": {**SPIKING, **spiking}}
    return fitted.build_network(parse_model_name(model), target.shape[1], options, seed)


def assert_units_spike(model, target):
    """At least 90 % of units spike in a rollout from the first frame; none at every sub-step."""
    rate = spiking_init.probe_rollout(model, target[0], len(target)).rate
    assert (rate > 0).mean() >= 0.9, f"{(rate > 0).mean():.2f} of units spike"
    assert rate.max() < 1.0, f"{(rate >= 1).sum()} units fire at every sub-step"
    return rate


@pytest.mark.parametrize("model", ["spiking_dale_bptt", "spiking_nodale_bptt"])
@pytest.mark.parametrize("sub_steps", [1, 5])
def test_data_init_makes_every_unit_spike_on_a_stand_in(model, sub_steps):
    target = calcium_like()
    fixed = spiking_model(target, model, steps_per_frame=sub_steps)
    fitted.initialise_from_data(fixed, target, spiking_init="fixed")
    silent = spiking_init.probe_rollout(fixed, target[0], len(target)).rate
    assert (silent > 0).mean() < 0.1  # the constructor's bias 0.1 leaves the units silent
    network = spiking_model(target, model, steps_per_frame=sub_steps)
    fitted.initialise_from_data(network, target)
    rate = assert_units_spike(network, target)
    # About one spike a frame (every max(2, S) sub-steps) under the mean input.
    assert 0.5 <= np.median(rate) * max(2, sub_steps) <= 1.5
    if sub_steps > 1:  # one sub-step a frame: a threshold unit per frame, chaotic (docs/fit.md)
        # The output starts at each neuron's mean, as the rate networks' does.
        mean = fitted.rollout(network, target[0], len(target)).mean(axis=0)
        assert np.abs(mean - target.mean(axis=0)).mean() < 0.05


def test_the_surrogate_and_readout_follow_the_data():
    target = calcium_like()
    network = spiking_model(target, steps_per_frame=5)
    probe = spiking_init.initialise_spiking_from_data(network, target)
    # The median distance to threshold sits where SuperSpike's derivative is 1/4.
    assert network.surrogate_scale == pytest.approx(1.0 / probe.distance)
    assert network.init_kwargs["surrogate_scale"] == network.surrogate_scale
    assert 1.0 < network.surrogate_scale < 100.0
    low, high = np.quantile(target, spiking_init.RANGE_QUANTILES, axis=0)
    logit = spiking_init._logit
    gain = network.readout_gain().detach().numpy()
    assert gain == pytest.approx(np.maximum(logit(high) - logit(low), 0.1), rel=1e-5)
    with pytest.raises(ValueError, match="network.spiking.init must be one of"):
        fitted.initialise_from_data(network, target, spiking_init="random")


def test_a_saved_data_initialised_network_reloads_the_same(tmp_path):
    target = calcium_like(n_neurons=12, n_frames=120)
    network = spiking_model(target, steps_per_frame=2)
    fitted.initialise_from_data(network, target)
    fitted.save_fitted_model(network, tmp_path / "model.pt", {})
    loaded, _ = fitted.load_fitted_model(tmp_path / "model.pt")
    assert loaded.surrogate_scale == network.surrogate_scale
    expected = fitted.rollout(network, target[0], 50)
    assert fitted.rollout(loaded, target[0], 50) == pytest.approx(expected, abs=1e-6)


def demo_recording():
    path = next((p for p in DEMO_ACTIVITY if p.is_file()), None)
    if path is None:
        pytest.skip(f"the demo's recording is absent ({DEMO_ACTIVITY[0]}; run make demo)")
    return preprocess(load_activity(path).traces, Preprocessing("per_neuron", 3.0))


@pytest.mark.parametrize("model", ["spiking_dale_bptt", "spiking_nodale_bptt"])
def test_data_init_makes_every_unit_spike_on_the_demo_recording(model):
    target = demo_recording()  # config/demo.yaml: per-neuron min-max, σ 3, tau_out 10
    network = spiking_model(target, model, tau_out=10.0, steps_per_frame=5)
    fitted.initialise_from_data(network, target)
    assert_units_spike(network, target)


@pytest.mark.skipif(not ZEBRAFISH.is_file(), reason=f"zebrafish data absent ({ZEBRAFISH})")
@pytest.mark.parametrize("sub_steps", [1, 5])
def test_data_init_makes_every_unit_spike_on_zebrafish(sub_steps):
    recording = load_activity(ZEBRAFISH, frame_period_s=0.9)
    target = preprocess(recording.traces, Preprocessing("global", 10.0))
    network = spiking_model(target, tau_out=50.0, steps_per_frame=sub_steps)
    fitted.initialise_from_data(network, target)
    assert_units_spike(network, target)
