"""Scores for fitted activity: the proportion of variance explained (pVar) and its baselines.

pVar = 1 − MSE(prediction, target) / Var(target), as in NeuroTorch (Gince et al. 2024). The
global form pools all neurons and times; the per-neuron form scores each neuron against its
own variance over time, so quiet neurons count as much as loud ones.
"""

from __future__ import annotations

import numpy as np


def pvar(prediction, target) -> float:
    """Global pVar over all elements: 1 − mean((p − t)²) / var(t). Arrays of equal shape."""
    p = np.asarray(prediction, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"pvar: prediction shape {p.shape} differs from target shape {t.shape}")
    var = t.var()
    if var == 0:
        raise ValueError("pvar: the target has zero variance; pVar is undefined")
    return float(1.0 - np.mean((p - t) ** 2) / var)


def pvar_per_neuron(prediction, target, time_axis: int = 0) -> np.ndarray:
    """pVar of each neuron over time: 1 − mean_t((p − t)²) / var_t(t); NaN for a flat neuron."""
    p = np.asarray(prediction, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"pvar: prediction shape {p.shape} differs from target shape {t.shape}")
    mse = np.mean((p - t) ** 2, axis=time_axis)
    var = t.var(axis=time_axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0, 1.0 - mse / np.where(var > 0, var, 1.0), np.nan)


# ---------------------------------------------------------------- baselines
# A model's pVar only means something next to what trivial predictors reach on the same frames.
# Arrays here are time-major: (T, N), one column per neuron, unless ``time_axis`` says otherwise.

AR1_RIDGE_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def predict_time_mean(target, time_axis: int = 0) -> np.ndarray:
    """Each neuron's own time-average, repeated over time (same shape as ``target``)."""
    t = np.asarray(target, dtype=np.float64)
    return np.broadcast_to(t.mean(axis=time_axis, keepdims=True), t.shape).copy()


def baseline_pvar_mean(target, time_axis: int = 0) -> float:
    """Global pVar of predicting each neuron's own time-average of ``target``.

    In-sample by construction (the mean is taken over the scored frames), so it is the best
    constant predictor; its per-neuron pVar is exactly 0.
    """
    return pvar(predict_time_mean(target, time_axis), target)


def fit_ar1(series, ridge: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares linear AR(1), x[t+1] ≈ x[t] @ A + b, fitted on consecutive frames.

    ``series``: (T, N), T ≥ 2. ``ridge`` is the L2 penalty on A relative to the mean energy per
    neuron, λ = ridge · trace(XᵀX) / N of the centred inputs (so it does not depend on the data's
    scale); 0 is plain least squares (a pseudo-inverse when XᵀX is singular). The intercept is not
    penalised. Returns (A (N, N), b (N,)); A[j, i] maps neuron j at t to neuron i at t + 1.
    """
    s = np.asarray(series, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] < 2:
        raise ValueError(f"fit_ar1: need a (T, N) series with T >= 2, got shape {s.shape}")
    if ridge < 0:
        raise ValueError(f"fit_ar1: ridge must be >= 0, got {ridge}")
    return ridge_regression(s[:-1], s[1:], ridge)


def ridge_regression(inputs, outputs, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """outputs ≈ inputs @ W + b by least squares on centred data, (W (k, m), b (m,)) for
    ``inputs`` (n, k) and ``outputs`` (n, m). ``ridge``: the L2 penalty on W relative to the
    mean energy per input column, λ = ridge · trace(XᵀX) / k of the centred inputs; 0 is plain
    least squares (a pseudo-inverse when XᵀX is singular). The intercept is not penalised."""
    mean_in, mean_out = inputs.mean(axis=0), outputs.mean(axis=0)
    centred_in, centred_out = inputs - mean_in, outputs - mean_out
    gram = centred_in.T @ centred_in
    penalty = ridge * np.trace(gram) / gram.shape[0]
    if penalty > 0:
        regularised = gram + penalty * np.eye(gram.shape[0])
        weights = np.linalg.solve(regularised, centred_in.T @ centred_out)
    else:
        weights = np.linalg.pinv(centred_in) @ centred_out
    return weights, mean_out - mean_in @ weights


def rollout_ar1(weights, bias, initial_frame, n_frames: int) -> np.ndarray:
    """Roll an AR(1) out from ``initial_frame`` on its own output, never seeing the data again.

    Returns (n_frames, N); row 0 is ``initial_frame`` itself, row k the k-th step.
    """
    frames = [np.asarray(initial_frame, dtype=np.float64)]
    for _ in range(n_frames - 1):
        frames.append(frames[-1] @ weights + bias)
    return np.stack(frames)


def select_ar1_ridge(series, grid=AR1_RIDGE_GRID, validation_fraction: float = 0.2) -> float:
    """The ridge of ``grid`` whose AR(1), fitted on the first part of ``series`` and rolled out
    from its last frame, best forecasts the last ``validation_fraction`` (global pVar).

    Forward validation inside the data given, so the baseline's one free choice is not tuned on
    the frames it is scored on later.
    """
    s = np.asarray(series, dtype=np.float64)
    n_fit = int(round(s.shape[0] * (1.0 - validation_fraction)))
    if n_fit < 2 or s.shape[0] - n_fit < 1:
        raise ValueError(f"select_ar1_ridge: series of {s.shape[0]} frames is too short to split")
    fit_part, check_part = s[:n_fit], s[n_fit:]
    if check_part.var() == 0:
        return float(grid[-1])
    scores = []
    for ridge in grid:
        weights, bias = fit_ar1(fit_part, ridge)
        forecast = rollout_ar1(weights, bias, fit_part[-1], check_part.shape[0] + 1)[1:]
        with np.errstate(over="ignore", invalid="ignore"):
            score = pvar(forecast, check_part) if np.all(np.isfinite(forecast)) else -np.inf
        scores.append(score if np.isfinite(score) else -np.inf)
    return float(grid[int(np.argmax(scores))])


def predict_ar1_rollout(target, ridge: float | None = None, fit_series=None) -> np.ndarray:
    """AR(1) fitted on ``fit_series`` (default: ``target``), rolled out from ``target[0]``.

    ``ridge`` None selects it by :func:`select_ar1_ridge` on the fitted series. (T, N) in and out.
    """
    t = np.asarray(target, dtype=np.float64)
    fit_on = t if fit_series is None else np.asarray(fit_series, dtype=np.float64)
    if ridge is None:
        ridge = select_ar1_ridge(fit_on)
    weights, bias = fit_ar1(fit_on, ridge)
    with np.errstate(over="ignore", invalid="ignore"):
        return rollout_ar1(weights, bias, t[0], t.shape[0])


def baseline_pvar_ar1(target, ridge: float | None = None) -> float:
    """Global pVar of a linear AR(1) fitted on ``target`` (T, N) and ROLLED OUT from its first
    frame on its own output (frame 0 is given, as for the networks).

    One-step-ahead (teacher-forced) scores are not used: on smoothed data any AR(1) scores about
    1 that way. Note the capacity: with N ≥ T and no ridge, the in-sample rollout is nearly exact.
    """
    return pvar(predict_ar1_rollout(target, ridge), target)


# ---------------------------------------------------------------- held-out forecasts
def split_train_test(n_frames: int, heldout_fraction: float) -> int:
    """Number of training frames when the last ``heldout_fraction`` of ``n_frames`` is held out.

    Both parts keep at least 2 frames.
    """
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must lie in (0, 1), got {heldout_fraction}")
    n_train = int(round(n_frames * (1.0 - heldout_fraction)))
    if n_train < 2 or n_frames - n_train < 2:
        raise ValueError(
            f"{n_frames} frames cannot be split {1 - heldout_fraction:.2f}/{heldout_fraction:.2f} "
            "with at least 2 frames in each part"
        )
    return n_train


def heldout_baseline_predictions(train, test, ar1_ridge: float | None = None) -> dict:
    """Forecasts of the held-out frames ``test`` (T_test, N) knowing only ``train`` (T_train, N).

    - ``mean``: each neuron's training time-average (an honest forecast);
    - ``last_frame``: the last training frame held constant (persistence);
    - ``ar1``: an AR(1) fitted on ``train`` and rolled out from its last frame;
    - ``mean_oracle``: each neuron's time-average over ``test`` itself (not a forecast: it has
      seen the answer; the ceiling of any constant predictor).
    """
    tr = np.asarray(train, dtype=np.float64)
    te = np.asarray(test, dtype=np.float64)
    if ar1_ridge is None:
        ar1_ridge = select_ar1_ridge(tr)
    weights, bias = fit_ar1(tr, ar1_ridge)
    with np.errstate(over="ignore", invalid="ignore"):
        ar1 = rollout_ar1(weights, bias, tr[-1], te.shape[0] + 1)[1:]
    return {
        "mean": np.broadcast_to(tr.mean(axis=0), te.shape).copy(),
        "last_frame": np.broadcast_to(tr[-1], te.shape).copy(),
        "ar1": ar1,
        "mean_oracle": predict_time_mean(te),
    }


def median_pvar_per_neuron(per_neuron) -> float:
    """The median of per-neuron pVars (:func:`pvar_per_neuron`), flat neurons (NaN) left out;
    NaN when every neuron is flat."""
    values = np.asarray(per_neuron, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def score_prediction(prediction, target) -> dict:
    """Global pVar, median per-neuron pVar (flat neurons left out) and the per-neuron array."""
    per_neuron = pvar_per_neuron(prediction, target, time_axis=0)
    return {
        "pvar": pvar(prediction, target),
        "pvar_per_neuron_median": median_pvar_per_neuron(per_neuron),
        "pvar_per_neuron": per_neuron,
    }
