"""The start state of every rollout from data: one causal estimator (issue #21, item 2).

A held-out rollout and each windowed forecast start at frame s from what the recording said
before s. The estimator reads the normalised, unsmoothed frames before s only and averages the
recent past with the preprocessing's σ (frames):

    x̂_t = Σ_{k=0}^{min(K, t)} w_k x_{t−k} / Σ_{k=0}^{min(K, t)} w_k,   K = ⌈4σ⌉,

normalised over the frames it covers (the first frames of a context use fewer). Every frame's
estimate x̂_t uses frames ≤ t only, so the whole sequence serves the spiking network's teacher
forcing and its last frame is the start state. Three kernels w_k, g_k = exp(−k² / 2σ²):

- ``folded_gaussian`` (the default): the preprocessing's Gaussian with its future half folded
  onto lag 0, w_0 = Σ_{j=0}^{K} g_j, w_k = g_k (k ≥ 1): at the last frame of a context it is
  exactly what smoothing the context alone with the edge held at the nearest frame gives (57 %
  of the weight on the last frame at σ = 3, mean lag 1.2 frames), now causal at every frame;
- ``half_gaussian``: w_k = g_k (mean lag 2.1 frames at σ = 3);
- ``exponential``: w_k = (1 − α)^k with the half-Gaussian's mean lag.

Why the folded kernel: measured on the demo's recording (docs/fit.md, "Start state"), it gives
the lowest MAE at step 1 of the networks and of persistence: the recorded frames change over a
few frames and carry little noise, so the lag a wider average adds costs more than the noise it
removes (persistence at step 1: 0.039 folded, 0.046 exponential, 0.049 half-Gaussian; the raw
last frame 0.032). On the zebrafish file the three are within 0.002 of each other, the folded
one best too. σ = 0 returns the frames themselves.

Arrays are time-major: frames (T, ...) with time first; any trailing shape (a batch of windows,
neurons) is carried along.
"""

from __future__ import annotations

import math

import numpy as np

KERNELS = ("folded_gaussian", "half_gaussian", "exponential")
"""The causal kernels."""

DEFAULT_KERNEL = "folded_gaussian"
"""The kernel every start from data uses (the module's docstring says why)."""

TRUNCATE = 4.0
"""The kernel covers lags 0..⌈TRUNCATE σ⌉ (scipy's gaussian_filter1d truncates there too)."""


def causal_kernel(sigma_frames: float, kernel: str = DEFAULT_KERNEL) -> np.ndarray:
    """Weights (K + 1,) of lags 0..K (lag 0: the frame itself), not normalised."""
    if kernel not in KERNELS:
        raise ValueError(f"start state: unknown kernel {kernel!r}, expected one of {KERNELS}")
    sigma = float(sigma_frames)
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"start state: sigma must be a finite number >= 0, got {sigma_frames}")
    if sigma == 0:
        return np.ones(1)
    lags = np.arange(int(math.ceil(TRUNCATE * sigma)) + 1, dtype=np.float64)
    gaussian = np.exp(-0.5 * (lags / sigma) ** 2)
    if kernel == "half_gaussian":
        return gaussian
    if kernel == "folded_gaussian":  # the future half folded onto lag 0
        return np.concatenate([[gaussian.sum()], gaussian[1:]])
    mean_lag = float(np.sum(lags * gaussian) / np.sum(gaussian))
    decay = mean_lag / (1.0 + mean_lag)  # (1 − α) with mean lag (1 − α) / α = mean_lag
    lags = np.arange(int(math.ceil(-np.log(1e-4) / -np.log(decay))) + 1, dtype=np.float64)
    return decay**lags


def causal_smooth(frames, sigma_frames: float, kernel: str = DEFAULT_KERNEL) -> np.ndarray:
    """(T, ...): each frame's causal estimate from ``frames`` (T, ...) up to and including it
    (float64; the module's docstring gives the estimator)."""
    x = np.asarray(frames, dtype=np.float64)
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"start state: no frames to estimate from (shape {x.shape})")
    weights = causal_kernel(sigma_frames, kernel)[: x.shape[0]]
    total = np.zeros_like(x)
    for lag, weight in enumerate(weights):
        total[lag:] += weight * x[: x.shape[0] - lag]
    covered = np.cumsum(weights)  # the weight of the lags each frame has
    norm = np.concatenate([covered, np.full(x.shape[0] - len(weights), covered[-1])])
    return total / norm.reshape((-1,) + (1,) * (x.ndim - 1))


def start_state(frames, sigma_frames: float, kernel: str = DEFAULT_KERNEL) -> np.ndarray:
    """(...): the state a rollout starts from after ``frames`` (T, ...), the normalised,
    unsmoothed frames before the start: the causal estimate at the last of them. Only the last
    K + 1 frames are read."""
    x = np.asarray(frames, dtype=np.float64)
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"start state: no frames to estimate from (shape {x.shape})")
    reach = len(causal_kernel(sigma_frames, kernel))
    return causal_smooth(x[-reach:], sigma_frames, kernel)[-1]


def heldout_start_state(traces, n_train: int, preprocessing) -> np.ndarray:
    """(N,): the held-out rollout's start state: the causal estimate at the last training frame
    from the training frames of ``traces`` (T, N) min-max normalised with their own statistics
    (as :func:`neurocircuit.fit.recording.preprocess_split` normalises), unsmoothed. Reads no
    frame at or after ``n_train``. ``preprocessing``: a
    :class:`neurocircuit.fit.recording.Preprocessing`."""
    from neurocircuit.fit.recording import apply_minmax, minmax_range

    train = np.asarray(traces[: int(n_train)], dtype=np.float64)
    low, high = minmax_range(train, preprocessing.normalisation)
    return start_state(apply_minmax(train, low, high), preprocessing.smoothing_sigma_frames)
