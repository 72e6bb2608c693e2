"""The moving-block bootstrap over forecast windows: blocks, coverage, too few windows."""

import numpy as np
import pytest
from neurocircuit.fit.forecast_bootstrap import (
    block_bootstrap_indices,
    block_length,
    bootstrap_interval,
    bootstrap_means,
)


def test_block_length_spans_the_horizon_in_windows():
    assert block_length(32, 1) == 32
    assert block_length(32, 4) == 8
    assert block_length(30, 4) == 8  # 8 windows x 4 frames >= 30
    assert block_length(3, 8) == 1
    with pytest.raises(ValueError, match="must be >= 1"):
        block_length(0, 1)


def test_replicates_are_runs_of_consecutive_windows_of_the_block_length():
    n_windows, block = 50, 8
    indices = block_bootstrap_indices(n_windows, block, 200, seed=3)
    assert indices.shape == (200, 50)
    steps = np.diff(indices, axis=1) % n_windows
    # Inside a block the next window follows (circularly); a new block may start anywhere.
    inside = np.ones(49, dtype=bool)
    inside[block - 1 :: block] = False
    assert (steps[:, inside] == 1).all()
    assert (steps[:, ~inside] != 1).mean() > 0.9
    # The cumulative-sum means are the means over exactly these windows, same seed, same draws.
    values = np.random.default_rng(0).normal(size=(3, n_windows))
    assert np.allclose(bootstrap_means(values, block, 200, seed=3), values[:, indices].mean(axis=2))
    assert not np.allclose(bootstrap_means(values, block, 200, seed=4), values[:, indices].mean(2))


def coverage(block: int, n_simulations: int = 300, n_windows: int = 512, memory: int = 4) -> float:
    """Share of 95 % intervals that hold the true mean difference 0.1 of windows whose errors
    are correlated over ``memory`` windows (a moving average of white noise)."""
    rng = np.random.default_rng(1)
    hits = 0
    for i in range(n_simulations):
        noise = rng.normal(size=n_windows + memory - 1)
        difference = 0.1 + np.convolve(noise, np.ones(memory) / np.sqrt(memory), "valid")
        _, low, high = bootstrap_interval(difference, block, n_resamples=500, seed=i)
        hits += low[0] <= 0.1 <= high[0]
    return hits / n_simulations


def test_interval_covers_a_known_difference_at_about_the_nominal_rate():
    assert 0.90 <= coverage(block=16) <= 0.98
    # Resampling single windows ignores their dependence: far too narrow.
    assert coverage(block=1) < 0.75


def test_interval_is_per_step_and_nan_with_fewer_than_two_blocks():
    rng = np.random.default_rng(2)
    values = np.stack([rng.normal(0.0, 0.01, 200), rng.normal(1.0, 0.5, 200)])
    mean, low, high = bootstrap_interval(values, block=10)
    assert np.allclose(mean, values.mean(axis=1))
    assert (low < mean).all() and (mean < high).all()
    assert (high - low)[1] > 20 * (high - low)[0]
    mean, low, high = bootstrap_interval(values[:, :19], block=10)
    assert np.isfinite(mean).all() and np.isnan(low).all() and np.isnan(high).all()
