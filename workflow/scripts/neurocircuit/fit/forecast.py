"""Windowed forecasts of the held-out block, in the field's terms (ZAPBench, Lueckmann et al. 2025).

The held-out fit (:func:`neurocircuit.fit.jobs.fit_heldout_file`) trains on the first frames of
the recording; its last ``heldout_fraction`` is the test block. Instead of one rollout over the
whole block, forecasts start in many windows:

1. **Windows**: starts s = n_train, n_train + stride, ... while s + H <= T, with H = ``horizon``
   (capped by the block's length). Each window forecasts frames [s, s + H).
2. **Context**: the C = min(``context``, n_train) raw frames [s − C, s) before each start,
   min-max normalised with the training frames' statistics (:class:`WindowContexts`): nothing
   at or after s enters a context. The networks start from the causal start state
   (:mod:`neurocircuit.fit.start_state`: a one-sided Gaussian of the preprocessing's σ over
   the frames before s, as the held-out rollout starts), and so does the ``start_state``
   persistence baseline; the other baselines read each context smoothed alone (edge held at
   the nearest frame). Smoothing the test block as a whole would leak about 3σ frames of every
   window's future into its context's last frames.
3. **Targets**: the recorded frames [s, s + H), min-max normalised with the training frames'
   statistics and not smoothed (ZAPBench's target: the primary scores); second, the held-out
   fit's own target (the test block smoothed alone, as it scores ``pvar_heldout``), in the
   ``*_smoothed`` scores.
4. **Forecasters**, all on the same contexts and targets: the held-out network (its state set
   from the context's causal estimates, :func:`network_forecast`), the naive baselines of
   :mod:`neurocircuit.fit.forecast_baselines` (the linear one fitted to the recorded frames),
   and on a teacher session the teacher itself (:func:`neurocircuit.fit.truth.teacher_forecasts`,
   the ceiling).
5. **Scores** per horizon step h over every window and neuron
   (:mod:`neurocircuit.fit.forecast_scores`): MAE = mean |forecast − target| (in units of the
   normalised recording), pooled pVar = 1 − MSE / Var (the variance over windows and neurons
   at that step) and the per-neuron pVar's median; ``forecast_mae`` / ``forecast_pvar`` average
   the steps. Each forecaster's MAE minus the linear model's carries a moving-block bootstrap
   interval over windows (:mod:`neurocircuit.fit.forecast_bootstrap`).

Arrays are time-major: a recording (T, N), contexts (C, B, N), forecasts and targets (H, B, N).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from neurocircuit.fit.forecast_baselines import (
    forecast_ar1,
    forecast_context_mean,
    forecast_last_frame,
    forecast_start_state,
    select_linear_forecaster,
)
from neurocircuit.fit.forecast_bootstrap import BOOTSTRAP_RESAMPLES, block_length
from neurocircuit.fit.forecast_scores import (
    DIFF,
    FORECASTERS,
    STEP_METRICS,
    forecast_table,
    reported_steps,
    score_both_targets,
)
from neurocircuit.fit.recording import (
    Preprocessing,
    apply_minmax,
    load_activity,
    minmax_range,
    preprocess_split,
    smooth_in_time,
)
from neurocircuit.fit.start_state import DEFAULT_KERNEL, causal_smooth, start_state
from neurocircuit.runtime import atomic_path, write_json


@dataclass(frozen=True)
class ForecastSettings:
    """``horizon`` steps per window (frames), a window every ``stride`` frames, up to
    ``context`` frames before each; the linear baseline's grids of lags and ridges."""

    horizon: int = 32
    stride: int = 1
    context: int = 256
    linear_lags: tuple[int, ...] = (1, 4, 16, 64)
    linear_ridge: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)

    def __post_init__(self):
        for key in ("horizon", "stride", "context"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"forecast.{key} must be >= 1, got {getattr(self, key)}")

    @classmethod
    def from_dict(cls, values: dict) -> ForecastSettings:
        v = dict(values)
        for key in ("linear_lags", "linear_ridge"):
            if key in v:
                v[key] = tuple(v[key])
        return cls(**v)


@dataclass(frozen=True)
class ForecastWindows:
    """``starts`` (B,): the first forecast frame of each window (frame index in the recording);
    ``horizon`` H frames forecast; ``context`` C frames before each start."""

    starts: np.ndarray
    horizon: int
    context: int


def forecast_windows(n_frames: int, block_start: int, settings: ForecastSettings):
    """The windows over the block [block_start, n_frames): a start every ``stride`` frames from
    ``block_start`` while the window fits, the horizon capped by the block's length and the
    context by the frames before the block."""
    horizon = min(int(settings.horizon), n_frames - block_start)
    context = min(int(settings.context), block_start)
    if horizon < 1 or context < 1:
        raise ValueError(
            f"no forecast window: block [{block_start}, {n_frames}) with {block_start} frames "
            "before it"
        )
    starts = np.arange(block_start, n_frames - horizon + 1, int(settings.stride))
    return ForecastWindows(starts, horizon, context)


@dataclass
class WindowContexts:
    """The C frames [s − C, s) before each of B windows, as each forecaster reads them.

    ``recorded`` (C, B, N): the raw frames min-max normalised with the training statistics,
    not smoothed. ``smoothed``: each context smoothed alone with the preprocessing's two-sided
    Gaussian, edges held at the nearest frame (what the baselines have always read).
    ``causal``: each frame's causal estimate from the frames up to it, and ``start`` (B, N):
    its last frame, the state a rollout starts from (:mod:`neurocircuit.fit.start_state`, the
    one estimator of every start from data)."""

    recorded: np.ndarray
    sigma: float
    kernel: str = DEFAULT_KERNEL

    @cached_property
    def smoothed(self) -> np.ndarray:
        return smooth_in_time(self.recorded, self.sigma)

    @cached_property
    def causal(self) -> np.ndarray:
        return causal_smooth(self.recorded, self.sigma, self.kernel)

    @cached_property
    def start(self) -> np.ndarray:
        return start_state(self.recorded, self.sigma, self.kernel)


def window_contexts(raw, windows: ForecastWindows, low, high, sigma: float) -> WindowContexts:
    """The contexts of ``windows``: raw frames [s − C, s) of each window (``raw`` (T, N), only
    rows before each start are read), min-max normalised with (``low``, ``high``); σ frames,
    the preprocessing's smoothing."""
    rows = windows.starts[None, :] + np.arange(-windows.context, 0)[:, None]
    return WindowContexts(apply_minmax(np.asarray(raw)[rows], low, high), float(sigma))


def window_targets(series, windows: ForecastWindows, offset: int) -> np.ndarray:
    """(H, B, N): frames [s, s + H) of each window from ``series``, whose row 0 is frame
    ``offset`` of the recording."""
    rows = windows.starts[None, :] - offset + np.arange(windows.horizon)[:, None]
    return np.asarray(series)[rows]


def network_forecast(model, frames: np.ndarray, horizon: int) -> np.ndarray:
    """(H, B, N): a fitted network's forecasts from its state at the end of ``frames``
    (C, B, N), each frame the causal estimate from the recorded frames up to it
    (:attr:`WindowContexts.causal`; its last frame is the start state).

    Rate network: its whole state is its rates, set to the last frame, the start state
    (running it over the context with those frames as input ends in that same state). Spiking
    network: teacher forcing over the frames, each its fed-back output and, through the
    inverted readout (diagonal, as its rollout's start), its filtered spikes, while membrane
    potentials and synaptic currents run through the context. Then both run on their own output.
    Frames are clipped into [0, 1], the networks' range.
    """
    import torch

    with torch.no_grad():
        outputs, _ = model.rollout(network_start(model, frames), int(horizon))
    return outputs.cpu().numpy().astype(np.float64)


def network_start(model, frames: np.ndarray):
    """A network's state (batch B) at the end of ``frames`` (C, B, N), each the causal estimate
    from the recorded frames up to it, clipped into [0, 1]; no gradient. Rate network: its
    initial state at the last frame. Spiking network: teacher forcing over the frames (each its
    fed-back output and, through the inverted readout, its filtered spikes; membranes and
    synaptic currents run on). The one start of forecasts (:func:`network_forecast`) and of
    training on windows (:mod:`neurocircuit.fit.window_task`)."""
    import torch

    from neurocircuit.models.activity import SpikingActivityNetwork

    reference = next(model.parameters())
    frames = torch.as_tensor(
        np.clip(frames, 0.0, 1.0), dtype=reference.dtype, device=reference.device
    )
    spiking = isinstance(model, SpikingActivityNetwork)
    with torch.no_grad():
        state = model.initial_state(frames[0 if spiking else -1])
        if spiking:
            for frame in frames[1:]:
                _, state = model.rollout(state, 1)
                observed = model.initial_state(frame)
                state = state._replace(lowpass=observed.lowpass, output=observed.output)
    return state


def network_forecaster(model):
    """The :data:`Forecaster` of a fitted network: :func:`network_forecast` from the causal
    start-state estimates of each context (the rate network reads only the start state)."""
    from neurocircuit.models.activity import SpikingActivityNetwork

    if isinstance(model, SpikingActivityNetwork):
        return lambda c, w: network_forecast(model, c.causal, w.horizon)
    return lambda c, w: network_forecast(model, c.start[None], w.horizon)


Forecaster = Callable[[WindowContexts, ForecastWindows], np.ndarray]
"""(contexts of B windows, windows) -> forecasts (H, B, N)."""


def baseline_forecasters(
    train_raw,
    n_validation: int,
    preprocessing: Preprocessing,
    settings: ForecastSettings,
    ar1_ridge,
    horizon: int,
):
    """({name: Forecaster} of the baselines, {their choices}), fitted on the training frames
    ``train_raw`` (n_train, N) alone: the linear forecaster's lags and ridge chosen on windows
    of the validation block (its last ``n_validation`` frames), the AR(1)'s ridge as the
    held-out fit picks it (``ar1_ridge`` None: on the validation block)."""
    from neurocircuit.metrics import fit_ar1, select_ar1_ridge

    n_train = len(train_raw)
    n_fit = n_train - int(n_validation)
    low, high = minmax_range(train_raw, preprocessing.normalisation)
    sigma = preprocessing.smoothing_sigma_frames
    recorded = apply_minmax(train_raw, low, high)
    train_part = smooth_in_time(recorded, sigma)
    validation = forecast_windows(
        n_train, n_fit, ForecastSettings(horizon, settings.stride, settings.context)
    )
    linear = select_linear_forecaster(
        train_part[:n_fit],
        train_part,
        window_contexts(train_raw, validation, low, high, sigma).smoothed,
        window_targets(recorded, validation, 0),
        horizon,
        settings.linear_lags,
        settings.linear_ridge,
        fit_targets=recorded[:n_fit],
        train_targets=recorded,
    )
    if ar1_ridge is None:
        ar1_ridge = select_ar1_ridge(train_part, validation_fraction=n_validation / n_train)
    weights, bias = fit_ar1(train_part, ar1_ridge)
    forecasters = {
        "context_mean": lambda c, w: forecast_context_mean(c.smoothed, w.horizon),
        "last_frame": lambda c, w: forecast_last_frame(c.recorded, w.horizon),
        "start_state": lambda c, w: forecast_start_state(c.start, w.horizon),
        "linear": lambda c, w: linear.predict(c.smoothed, w.horizon),
        "ar1": lambda c, w: forecast_ar1(weights, bias, c.smoothed, w.horizon),
    }
    choices = {"linear_lags": linear.lags, "linear_ridge": linear.ridge, "ar1_ridge": ar1_ridge}
    return forecasters, choices


def forecast_predictions(
    raw,
    n_train: int,
    n_validation: int,
    preprocessing: Preprocessing,
    settings: ForecastSettings,
    ar1_ridge,
    forecasters: dict,
    windows: ForecastWindows,
):
    """({name: forecasts (H, B, N)} of ``forecasters`` and the baselines on ``windows``, the
    baselines' choices). Reads ``raw`` (T, N) only before each window's start."""
    train_raw = np.asarray(raw[:n_train], dtype=np.float64)
    low, high = minmax_range(train_raw, preprocessing.normalisation)
    contexts = window_contexts(raw, windows, low, high, preprocessing.smoothing_sigma_frames)
    baselines, choices = baseline_forecasters(
        train_raw, n_validation, preprocessing, settings, ar1_ridge, windows.horizon
    )
    everyone = {**forecasters, **baselines}
    return {name: forecaster(contexts, windows) for name, forecaster in everyone.items()}, choices


def evaluate_heldout_forecasts(
    raw,
    n_train: int,
    n_validation: int,
    preprocessing: Preprocessing,
    settings: ForecastSettings,
    ar1_ridge,
    forecasters: dict,
):
    """(windows, {name: score_both_targets}, choices) of ``forecasters`` and the baselines on
    every window of the test block [n_train, T), scored against the recorded frames
    (normalised with the training statistics, not smoothed) and, second, against the held-out
    fit's smoothed target."""
    windows = forecast_windows(len(raw), n_train, settings)
    predictions, choices = forecast_predictions(
        raw, n_train, n_validation, preprocessing, settings, ar1_ridge, forecasters, windows
    )
    recorded, smoothed = heldout_targets(raw, n_train, preprocessing)
    recorded = window_targets(recorded, windows, n_train)
    smoothed = window_targets(smoothed, windows, n_train)
    scores = {name: score_both_targets(p, recorded, smoothed) for name, p in predictions.items()}
    return windows, scores, choices


def heldout_targets(raw, n_train: int, preprocessing: Preprocessing):
    """(recorded, smoothed), each (T − n_train, N): the test block min-max normalised with the
    training frames' statistics (ZAPBench's target: the recorded frames), and that block also
    smoothed alone (the held-out fit's target, as it scores ``pvar_heldout``)."""
    train_raw = np.asarray(raw[:n_train], dtype=np.float64)
    low, high = minmax_range(train_raw, preprocessing.normalisation)
    recorded = apply_minmax(np.asarray(raw[n_train:], dtype=np.float64), low, high)
    _, smoothed = preprocess_split(raw, preprocessing, n_train)
    return recorded, smoothed


def _finite_or_none(value) -> float | None:
    """A JSON number, or null for NaN (an interval with too few windows)."""
    return float(value) if np.isfinite(value) else None


def _summary_keys(scores: dict, table, block: int) -> dict:
    """forecast.json's scores: every forecaster's step averages, and the model's MAE minus the
    linear model's averaged over steps and at the reported steps, with their intervals."""
    out = {}
    for name in FORECASTERS:
        suffix = "" if name == "model" else f"_{name}"
        out[f"forecast_mae{suffix}"] = float(np.mean(scores[name]["mae"]))
        for metric in STEP_METRICS[1:]:
            values = np.asarray(scores[name][metric], dtype=np.float64)
            finite = values[np.isfinite(values)]
            out[f"forecast_{metric}{suffix}"] = float(finite.mean()) if finite.size else None
    last = table.iloc[-1]
    for end in ("", "_low", "_high"):
        out[f"forecast_{DIFF}{end}"] = _finite_or_none(last[f"{DIFF}_cummean{end}"])
    for label, step in reported_steps(len(table)).items():
        for end in ("", "_low", "_high"):
            value = table[f"{DIFF}{end}"].iloc[step - 1]
            out[f"forecast_{DIFF}_{label}_step{end}"] = _finite_or_none(value)
    out["forecast_bootstrap_block"] = int(block)
    out["forecast_bootstrap_resamples"] = BOOTSTRAP_RESAMPLES
    return out


def _run_forecast(activity_path, outputs: dict, params: dict, make_forecaster, logger=None) -> dict:
    """Shared body of the forecast jobs: load and split the recording as the held-out fit does,
    evaluate the forecaster that ``make_forecaster(recording, raw, n_train, preprocessing)``
    returns (with a line on how it is conditioned) as ``model`` beside the baselines, write
    ``outputs["table"]`` (.csv) and then ``outputs["scores"]`` (.json). ``params``: the
    job's params, the run's labels (dataset, model, seed), ``split`` (how the held-out fit
    split the recording: neurocircuit.fit.settings.split_settings) and ``forecast``
    (ForecastSettings' keys)."""
    from neurocircuit.fit.jobs import validation_split
    from neurocircuit.metrics import split_train_test

    split_settings = params["split"]
    settings = ForecastSettings.from_dict(params["forecast"])
    preprocessing = Preprocessing(**split_settings["preprocessing"])
    recording = load_activity(
        activity_path,
        split_settings["frame_period_s"],
        split_settings["max_neurons"],
        split_settings["max_frames"],
    )
    raw = recording.traces
    n_train = split_train_test(len(raw), split_settings["heldout_fraction"])
    n_validation = validation_split(n_train, split_settings["validation_fraction"])
    forecaster, conditioning = make_forecaster(recording, raw, n_train, preprocessing)
    windows, scores, choices = evaluate_heldout_forecasts(
        raw,
        n_train,
        n_validation,
        preprocessing,
        settings,
        split_settings["ar1_ridge"],
        {"model": forecaster},
    )
    labels = {key: params[key] for key in ("dataset", "model", "seed")}
    block = block_length(windows.horizon, settings.stride)
    table = forecast_table(scores, labels, windows, recording.frame_period_s, block)
    result = {
        **labels,
        **_summary_keys(scores, table, block),
        "forecast_horizon": windows.horizon,
        "forecast_stride": int(settings.stride),
        "forecast_context": windows.context,
        "forecast_n_windows": len(windows.starts),
        **{f"forecast_{key}": value for key, value in choices.items()},
        "forecast_conditioning": conditioning,
        "forecast_protocol": "windows every stride frames across the held-out block, each "
        "conditioned on the context frames before its start (normalised with training "
        "statistics; networks and start_state: the causal start-state estimate, the other "
        "baselines: the context smoothed alone) and scored per step against the recorded frames "
        "(normalised with training statistics, not smoothed; _smoothed: against the held-out "
        "fit's smoothed target); baselines on the same windows, chosen on the validation block; "
        "mae_diff_vs_linear intervals: 95 % moving-block bootstrap over windows",
    }
    if logger:
        logger.info(
            "%s: %d windows x %d steps, MAE %.4f (last frame %.4f, linear %.4f)",
            params["model"],
            len(windows.starts),
            windows.horizon,
            result["forecast_mae"],
            result["forecast_mae_last_frame"],
            result["forecast_mae_linear"],
        )
    with atomic_path(outputs["table"]) as tmp:
        table.to_csv(tmp, index=False)
    write_json(result, outputs["scores"])
    return result


def forecast_fit_file(activity_path, model_path, outputs: dict, params: dict, logger=None) -> dict:
    """Rule fit_forecast: windowed forecasts of the held-out network ``model_path`` (its
    heldout/model.pt, never refitted) beside the baselines. See :func:`_run_forecast`."""
    from neurocircuit.models.activity import SpikingActivityNetwork
    from neurocircuit.models.fitted import load_fitted_model

    model, _ = load_fitted_model(model_path)

    def make_forecaster(recording, raw, n_train, preprocessing):
        if recording.n_neurons != model.n_units:
            raise ValueError(
                f"{model_path}: {model.n_units} units, but {activity_path} has "
                f"{recording.n_neurons} neurons"
            )
        spiking = isinstance(model, SpikingActivityNetwork)
        conditioning = (
            "teacher forcing over the context (each frame's causal estimate from the recorded "
            "frames up to it as output and filtered spikes)"
            if spiking
            else "rates set to the start state (the causal estimate at the last context frame; "
            "the rate network's whole state)"
        )
        return network_forecaster(model), conditioning

    return _run_forecast(activity_path, outputs, params, make_forecaster, logger)


def forecast_teacher_file(activity_path, truth_path, outputs: dict, params: dict, logger=None):
    """Rule fit_forecast_teacher: the windowed forecasts of a synthetic session's teacher (the
    ceiling, :func:`neurocircuit.fit.truth.teacher_forecasts`) beside the baselines."""
    from neurocircuit.fit.truth import has_teacher, teacher_forecasts
    from neurocircuit.imaging.synthetic import read_ground_truth

    truth = read_ground_truth(truth_path)
    if not has_teacher(truth):
        raise ValueError(f"{truth_path}: the synthetic recording has no teacher to forecast")

    def make_forecaster(recording, raw, n_train, preprocessing):
        if recording.truth_index is None:
            raise ValueError(f"{activity_path}: no truth_index (rows not matched to the truth)")
        train_part, _ = preprocess_split(raw, preprocessing, n_train)

        def forecaster(contexts, windows):
            return teacher_forecasts(
                truth,
                recording.truth_index,
                train_part,
                len(raw),
                windows,
                preprocessing.smoothing_sigma_frames,
            )

        return forecaster, "the teacher's latent rates and spikes fired before each start"

    return _run_forecast(activity_path, outputs, params, make_forecaster, logger)
