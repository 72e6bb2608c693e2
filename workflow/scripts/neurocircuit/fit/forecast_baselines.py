"""The naive forecasters every windowed forecast is read beside (ZAPBench's, Lueckmann et al. 2025).

Each forecaster maps a batch of contexts (C, B, N) (C frames before each of B windows, N
neurons, time-major; each context smoothed alone) or, for ``start_state``, the causal start
state (B, N) at their end, to forecasts (H, B, N) of the H frames after them, and sees nothing
else:

- ``context_mean``: each neuron's mean over the context, held for every step;
- ``last_frame``: the last recorded context frame (normalised, not smoothed) held
  (persistence; ZAPBench's naive baseline);
- ``start_state``: the causal start-state estimate held (persistence from the state the
  networks start from, :mod:`neurocircuit.fit.start_state`: their start has no advantage
  this baseline lacks);
- ``linear``: a ridge linear map from each neuron's last k context frames to its next H frames,
  one map shared by all neurons (ZAPBench's linear baseline, its time-mixing Dense layer),
  fitted to the frames it is scored against (the recorded ones); k and the ridge are chosen on
  the validation block;
- ``ar1``: the held-out fit's AR(1) (N × N ridge, neurocircuit.metrics.fit_ar1) rolled out
  from the last context frame on its own output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurocircuit.metrics import ridge_regression, rollout_ar1

BASELINES = ("context_mean", "last_frame", "start_state", "linear", "ar1")
"""Names of the baselines, in the order tables and figures list them."""


def forecast_context_mean(contexts: np.ndarray, horizon: int) -> np.ndarray:
    """(H, B, N): each window's mean over its context, per neuron."""
    return np.broadcast_to(contexts.mean(axis=0), (int(horizon), *contexts.shape[1:])).copy()


def forecast_last_frame(contexts: np.ndarray, horizon: int) -> np.ndarray:
    """(H, B, N): each window's last context frame, held."""
    return np.broadcast_to(contexts[-1], (int(horizon), *contexts.shape[1:])).copy()


def forecast_start_state(start: np.ndarray, horizon: int) -> np.ndarray:
    """(H, B, N): each window's start state (B, N), held."""
    return np.broadcast_to(start, (int(horizon), *np.shape(start))).copy()


def forecast_ar1(weights: np.ndarray, bias: np.ndarray, contexts: np.ndarray, horizon: int):
    """(H, B, N): x_{h} = x_{h-1} A + b from each window's last context frame, on its own
    output (``weights`` A (N, N), ``bias`` b (N,) of neurocircuit.metrics.fit_ar1;
    neurocircuit.metrics.rollout_ar1 on every window at once)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return rollout_ar1(weights, bias, contexts[-1], int(horizon) + 1)[1:]


@dataclass(frozen=True)
class LinearForecaster:
    """x[t:t+H] ≈ x[t-k:t] @ weights + intercept for each neuron alone, one map for all neurons.

    ``weights`` (k, H), ``intercept`` (H,); ``lags`` k and ``ridge`` are recorded with it."""

    weights: np.ndarray
    intercept: np.ndarray
    lags: int
    ridge: float

    @property
    def horizon(self) -> int:
        return int(self.weights.shape[1])

    def predict(self, contexts: np.ndarray, horizon: int | None = None) -> np.ndarray:
        """(H, B, N) from contexts (C, B, N), C >= lags; the first ``horizon`` steps (all H)."""
        if contexts.shape[0] < self.lags:
            raise ValueError(f"linear forecaster: {contexts.shape[0]} context frames < {self.lags}")
        recent = np.moveaxis(contexts[-self.lags :], 0, -1)  # (B, N, k)
        forecast = np.moveaxis(recent @ self.weights + self.intercept, -1, 0)
        return forecast[: self.horizon if horizon is None else int(horizon)]


def fit_linear_forecaster(series: np.ndarray, lags: int, horizon: int, ridge: float,
                          targets: np.ndarray | None = None):  # fmt: skip
    """The :class:`LinearForecaster` fitted on every (k frames of ``series``, next H frames of
    ``targets``) pair of every neuron (both (T, N), row t the same frame; ``targets`` None:
    ``series`` itself). ``ridge``: L2 penalty on the weights relative to the mean energy per
    lag (neurocircuit.metrics.ridge_regression); the intercept is free."""
    from numpy.lib.stride_tricks import sliding_window_view

    s = np.asarray(series, dtype=np.float64)
    t = s if targets is None else np.asarray(targets, dtype=np.float64)
    if t.shape != s.shape:
        raise ValueError(f"linear forecaster: targets {t.shape} differ from series {s.shape}")
    lags, horizon = int(lags), int(horizon)
    if s.shape[0] < lags + horizon:
        raise ValueError(
            f"linear forecaster: {s.shape[0]} frames cannot hold {lags} lags and {horizon} steps"
        )
    inputs = sliding_window_view(s[: len(s) - horizon], lags, axis=0).reshape(-1, lags)
    outputs = sliding_window_view(t[lags:], horizon, axis=0).reshape(-1, horizon)
    weights, intercept = ridge_regression(inputs, outputs, ridge)
    return LinearForecaster(weights, intercept, lags, float(ridge))


def select_linear_forecaster(
    fit_series: np.ndarray,
    train_series: np.ndarray,
    validation_contexts: np.ndarray,
    validation_targets: np.ndarray,
    horizon: int,
    lags_grid,
    ridge_grid,
    fit_targets: np.ndarray | None = None,
    train_targets: np.ndarray | None = None,
) -> LinearForecaster:
    """The (k, ridge) of the grids whose forecaster, fitted on ``fit_series`` (the fit block),
    has the lowest mean absolute error on the validation windows (``validation_contexts``
    (C, B, N), ``validation_targets`` (H_val, B, N), H_val <= ``horizon``), refitted with them on
    ``train_series`` (the training frames: fit and validation blocks, as the AR(1) is). Lags
    longer than the validation context, or than the fit block allows, are skipped.
    ``fit_targets`` / ``train_targets``: the frames the forecasts are fitted to, row for row
    with ``fit_series`` / ``train_series`` (None: the series themselves)."""
    usable = [
        int(k)
        for k in lags_grid
        if k <= validation_contexts.shape[0] and k + horizon <= len(fit_series)
    ]
    if not usable:
        raise ValueError(
            f"linear baseline: no lag of {list(lags_grid)} fits a {len(fit_series)}-frame fit "
            f"block with horizon {horizon} and {validation_contexts.shape[0]} context frames"
        )
    steps = validation_targets.shape[0]
    best, best_error = None, np.inf
    for lags in usable:
        for ridge in ridge_grid:
            model = fit_linear_forecaster(fit_series, lags, horizon, ridge, fit_targets)
            error = np.mean(np.abs(model.predict(validation_contexts, steps) - validation_targets))
            if np.isfinite(error) and error < best_error:
                best, best_error = (lags, ridge), error
    if best is None:
        raise ValueError("linear baseline: no lag and ridge of the grids forecasts finitely")
    return fit_linear_forecaster(train_series, best[0], horizon, best[1], train_targets)
