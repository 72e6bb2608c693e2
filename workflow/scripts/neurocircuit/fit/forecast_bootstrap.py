"""Uncertainty of windowed forecast scores: a moving-block bootstrap over windows.

Forecast windows start every ``stride`` frames and each covers ``horizon`` frames, so the errors
of neighbouring windows share target frames and the dynamics between them: windows are not
independent draws, and an ordinary bootstrap over windows would give intervals far too narrow.
The moving-block bootstrap (Künsch 1989) resamples runs of consecutive windows instead, each run
(block) at least as long as the horizon (``block_length``: ceil(horizon / stride) windows), so
each block holds the dependence of its windows. The blocks are circular (Politis & Romano 1992:
a block running past the last window continues at the first), so every window is drawn equally
often and the resampled means are centred on the observed one.

Each replicate draws ceil(B / L) blocks of L windows at uniform random starts, concatenates them
and keeps the first B windows; the statistic is the mean over the resampled windows. The interval
is the percentile interval of ``n_resamples`` replicates (95 %: the 2.5th and 97.5th
percentiles). With fewer than two blocks of windows (B < 2 L) resampling cannot tell windows
apart from their neighbours, and the interval is NaN.

Arrays are (H, B): one row per horizon step, one column per window (e.g. each window's error
averaged over neurons, or a model's minus the linear baseline's).
"""

from __future__ import annotations

import math

import numpy as np

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def block_length(horizon: int, stride: int) -> int:
    """Windows per block: ceil(horizon / stride), so a block spans at least the horizon."""
    if int(horizon) < 1 or int(stride) < 1:
        raise ValueError(f"block_length: horizon {horizon} and stride {stride} must be >= 1")
    return max(1, math.ceil(int(horizon) / int(stride)))


def _block_starts(n_windows: int, block: int, n_resamples: int, seed: int) -> np.ndarray:
    """(R, k) uniform block starts in 0..B-1, k = ceil(B / L) blocks per replicate."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_windows, size=(int(n_resamples), math.ceil(n_windows / block)))


def block_bootstrap_indices(n_windows: int, block: int, n_resamples: int, seed: int):
    """(R, B) window indices of each replicate: circular blocks of ``block`` consecutive
    windows at seeded uniform starts, concatenated and cut to B windows."""
    starts = _block_starts(n_windows, block, n_resamples, seed)
    runs = (starts[:, :, None] + np.arange(block)) % n_windows
    return runs.reshape(len(starts), -1)[:, :n_windows]


def bootstrap_means(values, block: int, n_resamples: int, seed: int) -> np.ndarray:
    """(H, R) means over windows of every replicate of ``values`` (H, B), the same draws as
    :func:`block_bootstrap_indices` (computed from cumulative sums: no (H, R, B) array)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[None, :] if v.ndim == 1 else v
    n_windows = v.shape[1]
    block = min(int(block), n_windows)
    starts = _block_starts(n_windows, block, n_resamples, seed)
    wrapped = np.concatenate([v, v[:, : block - 1]], axis=1)
    cumulative = np.concatenate([np.zeros((len(v), 1)), np.cumsum(wrapped, axis=1)], axis=1)
    lengths = np.full(starts.shape[1], block)
    lengths[-1] = n_windows - block * (starts.shape[1] - 1)
    sums = (cumulative[:, starts + lengths] - cumulative[:, starts]).sum(axis=2)
    return sums / n_windows


def bootstrap_interval(
    values,
    block: int,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
):
    """(mean, low, high), each (H,): the mean over windows of ``values`` (H, B) and its
    moving-block bootstrap percentile interval; low and high NaN when B < 2 ``block``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[None, :] if v.ndim == 1 else v
    mean = v.mean(axis=1)
    if v.shape[1] < 2 * int(block) or not np.isfinite(v).all():
        nan = np.full(len(v), np.nan)
        return mean, nan, nan.copy()
    replicates = bootstrap_means(v, block, n_resamples, seed)
    alpha = 1.0 - float(confidence)
    low, high = np.quantile(replicates, [alpha / 2, 1 - alpha / 2], axis=1)
    return mean, low, high
