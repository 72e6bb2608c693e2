"""ΔF/F against known ground truth: neuropil, baselines, bleaching, the near-zero guard, masks."""

import numpy as np
import pytest
from neurocircuit.imaging.dff import (
    compute_dff,
    interpolate_masked,
    neuropil_correct,
    running_baseline,
    running_percentile,
)

FS = 10.0


def transients(n_frames=1200, seed=0, n_neurons=4):
    """Known ΔF/F: sparse spikes through a 1 s exponential decay (peak 0.5 per spike)."""
    rng = np.random.default_rng(seed)
    spikes = rng.random((n_neurons, n_frames)) < 0.01
    kernel = 0.5 * np.exp(-np.arange(60) / FS)
    return np.array([np.convolve(s, kernel)[:n_frames] for s in spikes])


def test_neuropil_correction_golden():
    F, Fneu = np.array([[10.0, 12.0]]), np.array([[5.0, 10.0]])
    assert np.allclose(neuropil_correct(F, Fneu, 0.7), [[6.5, 5.0]])
    with pytest.raises(ValueError, match="shape"):
        neuropil_correct(F, Fneu[:, :1])


@pytest.mark.parametrize("method", ["maximin", "percentile"])
def test_dff_recovers_known_transients_through_neuropil_and_bleaching(method):
    true = transients()
    t = np.arange(true.shape[1]) / FS
    bleach = np.exp(-t / 200.0)  # 45 % decay over two minutes
    rng = np.random.default_rng(1)
    neuropil = 80 * (1 + 0.1 * np.sin(2 * np.pi * t / 37.0))[None, :]
    F0 = np.array([[100.0], [150.0], [200.0], [120.0]])
    F = (F0 * (1 + true) + 0.7 * neuropil) * bleach + rng.normal(0, 0.5, true.shape)
    Fneu = np.repeat(neuropil * bleach, 4, axis=0) + rng.normal(0, 0.2, true.shape)
    result = compute_dff(F, FS, Fneu=Fneu, method=method, window_s=30.0)
    for est, ref in zip(result.dff, true, strict=True):
        assert np.corrcoef(est, ref)[0, 1] > 0.97
        assert np.percentile(est, 99.5) == pytest.approx(np.percentile(ref, 99.5), rel=0.2)
    assert result.dff.dtype == np.float32 and result.masked_frames == 0
    assert not result.low_baseline.any()


def test_maximin_baseline_of_flat_trace_with_transient_is_the_flat_level():
    trace = np.full((1, 600), 100.0)
    trace[0, 300:320] += 50
    baseline = running_baseline(trace, FS, "maximin", window_s=20.0, sigma_s=0.5)
    assert np.allclose(baseline, 100.0, atol=1e-6)


def test_running_percentile_matches_brute_force():
    rng = np.random.default_rng(2)
    traces = np.cumsum(rng.normal(size=(2, 400)), axis=1)
    fast = running_percentile(traces, 51, 10.0)
    brute = np.array(
        [[np.percentile(row[max(0, k - 25) : k + 26], 10.0) for k in range(400)] for row in traces]
    )
    assert np.abs(fast - brute).max() < 0.3 * traces.std()
    anchors = np.arange(0, 400, 5)
    assert np.allclose(fast[:, anchors], brute[:, anchors])


def test_near_zero_baseline_is_floored_flagged_and_finite():
    rng = np.random.default_rng(3)
    F = 3.0 + rng.normal(0, 0.3, (1, 500))  # a dim ROI
    Fneu = 5.0 + rng.normal(0, 0.3, (1, 500))  # whose neuropil is brighter: F − 0.7 Fneu < 0
    result = compute_dff(F, FS, Fneu=Fneu)
    assert result.low_baseline.tolist() == [True]
    assert np.isfinite(result.dff).all()
    floor = 0.1 * 3.0
    assert np.abs(result.dff).max() < 5 * 0.3 * 1.5 / floor  # bounded by noise / floor


def test_nan_frames_are_masked_counted_interpolated_never_zero():
    true = transients(n_frames=400, n_neurons=2)
    F = 100 * (1 + true)
    F[:, [50, 51, 200]] = np.nan
    result = compute_dff(F, FS, window_s=20.0)
    assert result.masked_frames == 3
    assert result.valid[[49, 50, 51, 52, 200]].tolist() == [True, False, False, True, False]
    assert np.isfinite(result.dff).all()
    expected = interpolate_masked(true, result.valid)
    assert np.allclose(result.dff[:, [50, 51, 200]], expected[:, [50, 51, 200]], atol=0.02)


def test_interpolation_is_linear_between_good_frames():
    traces = np.array([[0.0, 99.0, 99.0, 3.0, 4.0]])
    out = interpolate_masked(traces, np.array([True, False, False, True, True]))
    assert np.allclose(out, [[0.0, 1.0, 2.0, 3.0, 4.0]])


def test_bad_traces_fail_with_one_line_naming_the_source():
    F = np.ones((3, 100))
    F[1] = np.nan
    with pytest.raises(ValueError) as info:
        compute_dff(F, FS, source="cells.npy")
    assert str(info.value) == "cells.npy: row(s) [1] hold no finite value (all NaN or inf)"
    F = np.ones((2, 100))
    F[:, :60] = np.nan
    F[0, 0] = 1.0  # every row has a finite value, yet most frames are NaN
    with pytest.raises(ValueError, match="cells.npy: 60 of 100 frames are NaN or masked"):
        compute_dff(F, FS, source="cells.npy")
    with pytest.raises(ValueError, match="cells.npy: all 100 frames are NaN or masked"):
        compute_dff(np.ones((1, 100)), FS, valid=np.zeros(100, bool), source="cells.npy")
    with pytest.raises(ValueError, match="baseline method 'median' unknown"):
        compute_dff(np.ones((1, 100)), FS, method="median")
