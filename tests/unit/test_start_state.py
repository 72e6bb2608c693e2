"""The causal start state (neurocircuit.fit.start_state): it reads no frame at or after the start,
and on a known series it is closer to the truth than the last raw frame."""

import numpy as np
import pytest
from neurocircuit.fit import forecast as fc
from neurocircuit.fit import start_state as ss
from neurocircuit.fit.recording import Preprocessing, apply_minmax, minmax_range, smooth_in_time
from neurocircuit.models.fitted import build_network
from neurocircuit.models.names import parse_model_name


def noisy_sine(n_frames=4000, n_neurons=8, period=100.0, noise=0.3, seed=0):
    """(truth, recorded), each (T, N): sines of random phase, and them plus white noise."""
    rng = np.random.default_rng(seed)
    time = np.arange(n_frames)[:, None]
    truth = np.sin(2 * np.pi * time / period + rng.uniform(0, 2 * np.pi, n_neurons))
    return truth, truth + noise * rng.normal(size=truth.shape)


def leaky_causal_smooth(frames, sigma_frames, kernel="half_gaussian"):
    """A broken estimator: each frame's estimate reads the frame after it too."""
    x = np.asarray(frames, dtype=np.float64)
    ahead = np.concatenate([x[1:], x[-1:]])
    return 0.5 * (ss.causal_smooth(x, sigma_frames, kernel) + ahead)


def poisoned_from(series, start):
    out = np.array(series, dtype=np.float64)
    out[start:] = np.nan
    return out


@pytest.mark.parametrize("kernel", ss.KERNELS)
def test_the_kernels_are_one_sided_with_the_preprocessing_sigma(kernel):
    weights = ss.causal_kernel(3.0, kernel)
    assert np.all(np.diff(weights) < 0) and len(weights) >= 13  # lags 0..12 at least
    lags = np.arange(len(weights))
    mean_lag = np.sum(lags * weights) / weights.sum()
    expected = {"folded_gaussian": 1.186, "half_gaussian": 2.093, "exponential": 2.091}
    assert mean_lag == pytest.approx(expected[kernel], abs=0.01)  # exponential: matched
    assert np.array_equal(ss.causal_kernel(0.0, kernel), [1.0])
    constant = np.full((30, 2, 3), 0.7)
    assert np.allclose(ss.causal_smooth(constant, 3.0, kernel), 0.7)  # normalised per frame
    with pytest.raises(ValueError, match="unknown kernel 'box'"):
        ss.causal_kernel(3.0, "box")


def test_the_default_start_is_the_context_smoothed_alone_at_its_last_frame():
    """The folded kernel at the last frame is the edge-held Gaussian's weights there (what the
    forecasts started from before); at earlier frames it reads no later frame, unlike it."""
    _, recorded = noisy_sine(n_frames=80)
    for sigma in (2.5, 3.0, 10.0):
        edge_held = smooth_in_time(recorded[:60], sigma)
        assert np.allclose(ss.start_state(recorded[:60], sigma), edge_held[-1], atol=1e-12)
        assert not np.allclose(ss.causal_smooth(recorded[:60], sigma)[30], edge_held[30])


def test_a_future_poisoned_with_nan_changes_no_estimate_and_a_leak_is_caught():
    _, recorded = noisy_sine(n_frames=200)
    for start in (1, 5, 60, 199):
        poisoned = poisoned_from(recorded, start)
        clean = ss.causal_smooth(recorded, 3.0)[:start]
        assert np.array_equal(ss.causal_smooth(poisoned, 3.0)[:start], clean), start
        assert np.array_equal(ss.start_state(poisoned[:start], 3.0), clean[-1]), start
        leaked = leaky_causal_smooth(poisoned, 3.0)[:start]
        assert np.isnan(leaked[-1]).all(), start  # the check fails a leaking estimator


def test_the_heldout_rollout_starts_from_the_past_alone():
    _, recorded = noisy_sine(n_frames=300)
    preprocessing = Preprocessing("per_neuron", 3.0)
    start = ss.heldout_start_state(recorded, 240, preprocessing)
    assert np.array_equal(ss.heldout_start_state(poisoned_from(recorded, 240), 240, preprocessing),
                          start)  # fmt: skip
    low, high = minmax_range(recorded[:240], "per_neuron")
    normalised = apply_minmax(recorded[:240], low, high)
    assert np.allclose(start, ss.causal_smooth(normalised, 3.0)[-1])
    assert np.abs(start - normalised[-1]).max() > 0.02  # not the last frame
    # A start that reads one frame past the training frames (a broken split) is caught.
    leaky = ss.heldout_start_state(poisoned_from(recorded, 240), 241, preprocessing)
    assert not np.allclose(leaky, start)


def test_the_heldout_fit_rolls_out_from_the_start_state_whatever_the_future(tmp_path):
    """fit_heldout_file end to end: its forecast is the network's rollout from the causal start
    state, and another held-out block (the frames it scores, never read to start) leaves the
    fitted network and its forecast as they were."""
    import h5py
    from neurocircuit.fit import jobs
    from neurocircuit.fit.settings import resolve_fit_settings
    from neurocircuit.models.fitted import load_fitted_model, rollout

    config = {
        "datasets": ["toy"], "models": ["rate_dale_bptt"], "seeds": [0],
        "zebrafish": {"frame_period_s": 0.9}, "max_neurons": None, "max_frames": None,
        "preprocessing": {"normalisation": "per_neuron", "smoothing_sigma_frames": 2.0},
        "heldout_fraction": 0.2, "validation_fraction": 0.125, "ar1_ridge": None,
        "network": {"shared": {"exc_fraction": 0.5}},
        "training": {"epochs": 10, "lr": 0.02, "progress": False, "eval_every": 5},
        "model_settings": {"rate_dale_bptt": {"training": {"stop_pvar": None}}},
    }  # fmt: skip
    settings = resolve_fit_settings(config, "toy", "rate_dale_bptt")
    run = {"dataset": "toy", "model": "rate_dale_bptt", "seed": 0, "device": "cpu",
           "settings": settings}  # fmt: skip
    _, dff = noisy_sine(n_frames=60, n_neurons=4, period=25.0, noise=0.1)
    forecasts = []
    for name, future in (("clean", dff[48:]), ("other", dff[48:][::-1] * 2.0)):
        activity = tmp_path / f"{name}.h5"
        with h5py.File(activity, "w") as h5:
            h5["dff"] = np.concatenate([dff[:48], future]).T.astype(np.float32)
            h5["time_s"] = np.arange(60) * 0.1
        outputs = {key: tmp_path / name / f"{key}.{ext}" for key, ext in (
            ("model", "pt"), ("prediction", "h5"), ("history", "csv"), ("per_neuron", "csv"),
            ("weights", "npz"), ("scores", "json"))}  # fmt: skip
        jobs.fit_job("heldout", activity, outputs, run)
        with h5py.File(outputs["prediction"], "r") as h5:
            forecasts.append(h5["prediction"][()].T)
    model, _ = load_fitted_model(tmp_path / "clean" / "model.pt")
    train = dff[:48].astype(np.float32).astype(np.float64)
    start = ss.start_state(apply_minmax(train, *minmax_range(train, "per_neuron")), 2.0)
    assert np.allclose(forecasts[0], rollout(model, start, 13)[1:], atol=1e-5)
    assert np.array_equal(forecasts[0], forecasts[1])


def window_forecasts(raw, start, window_contexts=fc.window_contexts):
    """Every forecaster's forecast of the window at ``start`` (rate and spiking networks, the
    baselines), with ``window_contexts`` as the contexts' reader."""
    preprocessing = Preprocessing("per_neuron", 3.0)
    settings = fc.ForecastSettings(horizon=6, stride=1, context=40, linear_lags=(1, 4))
    networks = {
        name: fc.network_forecaster(build_network(parse_model_name(name), 4, {}, seed=0))
        for name in ("rate_dale_bptt", "spiking_dale_bptt")
    }
    one = fc.ForecastWindows(np.array([start]), settings.horizon, settings.context)
    original = fc.window_contexts
    fc.window_contexts = window_contexts
    try:
        predictions, _ = fc.forecast_predictions(
            raw, 160, 20, preprocessing, settings, None, networks, one
        )
    finally:
        fc.window_contexts = original
    return predictions


def test_a_windows_forecast_reads_nothing_from_its_start_on_and_a_leak_is_caught():
    _, raw = noisy_sine(n_frames=200, n_neurons=4)
    start = 170
    clean = window_forecasts(raw, start)
    assert {"rate_dale_bptt", "spiking_dale_bptt", "start_state"} <= set(clean)
    poisoned = window_forecasts(poisoned_from(raw, start), start)
    for name, forecast in clean.items():
        assert np.isfinite(forecast).all() and np.array_equal(poisoned[name], forecast), name

    def leaky_contexts(raw, windows, low, high, sigma):  # the context shifted one frame on
        later = fc.ForecastWindows(windows.starts + 1, windows.horizon, windows.context)
        return fc.WindowContexts(apply_minmax(np.asarray(raw)[later.starts[None, :] + np.arange(
            -windows.context, 0)[:, None]], low, high), float(sigma))  # fmt: skip

    leaked = window_forecasts(poisoned_from(raw, start), start, leaky_contexts)
    assert np.isnan(leaked["start_state"]).all() and np.isnan(leaked["rate_dale_bptt"]).all()


def test_the_start_state_is_closer_to_the_truth_than_the_last_raw_frame():
    """Sines of period 100 frames plus noise of sd 0.3, σ = 3 frames (the demo's), a window
    every 7 frames: the start state's mean absolute error from the true value at the last
    context frame is at least 30 % below the last raw frame's (measured: 0.235 raw; folded
    0.148, half-Gaussian 0.127, exponential 0.130)."""
    truth, recorded = noisy_sine()
    starts = np.arange(64, len(truth), 7)
    for kernel in ss.KERNELS:
        estimates = np.stack([ss.start_state(recorded[s - 64 : s], 3.0, kernel) for s in starts])
        error = np.abs(estimates - truth[starts - 1]).mean()
        raw_error = np.abs(recorded[starts - 1] - truth[starts - 1]).mean()
        assert raw_error == pytest.approx(0.3 * np.sqrt(2 / np.pi), rel=0.05)
        assert error < 0.7 * raw_error, (kernel, error, raw_error)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="no frames to estimate from"):
        ss.start_state(np.zeros((0, 3)), 3.0)
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        ss.causal_smooth(np.zeros((4, 3)), -1.0)


def test_a_spiking_heldout_rollout_burns_in_on_the_past_alone():
    """The spiking held-out rollout starts as a forecast window does (teacher forcing over the
    causal estimates of the last training frames): a future of NaN changes nothing, and it is
    not the old start from the last frame with membranes at rest."""
    from neurocircuit.fit.jobs import heldout_rollout
    from neurocircuit.models.fitted import rollout

    _, recorded = noisy_sine(n_frames=200, n_neurons=4, period=25.0, noise=0.1)
    preprocessing = Preprocessing("per_neuron", 3.0)
    model = build_network(parse_model_name("spiking_dale_bptt"), 4, {}, seed=0)
    forecast = heldout_rollout(model, recorded, 160, preprocessing)
    assert forecast.shape == (40, 4) and np.all(np.isfinite(forecast))
    again = heldout_rollout(model, poisoned_from(recorded, 160), 160, preprocessing)
    assert np.array_equal(again, forecast)
    normalised = apply_minmax(recorded[:160], *minmax_range(recorded[:160], "per_neuron"))
    frames = ss.causal_smooth(normalised, 3.0)[-64:]
    assert np.allclose(forecast, fc.network_forecast(model, frames[:, None], 40)[:, 0])
    cold = rollout(model, ss.start_state(normalised, 3.0), 41)[1:]
    assert np.abs(cold - forecast).max() > 1e-3
