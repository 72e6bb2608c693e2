"""Training on windows (issue #21, item 1): a task beside ``SequenceFitTask``'s single rollout.

Each iteration draws a seeded batch of B windows from the fit block [0, n_fit) of a recording
(T, N) of normalised, unsmoothed frames: starts s with C context frames [s − C, s) and H
target frames [s, s + H) inside the fit block. Each window starts, exactly as a windowed
forecast starts (the same :func:`neurocircuit.fit.forecast.network_start`), from the causal
start state (:mod:`neurocircuit.fit.start_state`), read from the frames before s only:

- rate network: its state is the start estimate (the causal estimate at frame s − 1);
- spiking network: teacher forcing over the causal estimates of the context (each frame its
  fed-back output and filtered spikes, membranes and currents running), without gradient.

Then ONE rollout of the batch, ``model.rollout(state, H)`` with state batch B (one matrix
product per step on every backend), and the loss is the MSE of its H frames against the
recorded frames [s, s + H). H follows a schedule of (iteration, horizon) pairs: from each
iteration on (0-based), its horizon (e.g. ((0, 1), (100, 8), (200, 32))).

``evaluate`` scores the validation block's windows [n_fit, T) with the forecasting code
(:func:`forecast_windows`, :func:`window_contexts`, :func:`network_forecaster`,
:func:`score_per_step`): score = − MAE over the horizon (the loop keeps the highest score).
The windows of iteration k come from a generator seeded by (seed, k): a resumed run draws the
same ones. BPTT and truncated BPTT only: e-prop and FORCE are refused with a ValueError.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from neurocircuit.fit.start_state import DEFAULT_KERNEL, causal_kernel, causal_smooth, start_state
from neurocircuit.learning.tasks import SequenceFitTask, check_activity_model, detach_state
from neurocircuit.models.activity import RateActivityNetwork


@dataclass(frozen=True)
class WindowSettings:
    """``batch`` windows per iteration, ``context`` C frames before each start, the horizon
    ``schedule`` ((iteration, H), ...), the start state's σ (``sigma``, frames, the
    preprocessing's) and ``kernel``, and the validation windows: ``validation_horizon`` steps
    (None: the schedule's last H), one every ``validation_stride`` frames."""

    batch: int = 32
    context: int = 64
    schedule: tuple[tuple[int, int], ...] = ((0, 1), (100, 8), (200, 32))
    sigma: float = 3.0
    kernel: str = DEFAULT_KERNEL
    validation_horizon: int | None = None
    validation_stride: int = 1

    def __post_init__(self):
        for key in ("batch", "context", "validation_stride"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"windows.{key} must be >= 1, got {getattr(self, key)}")
        schedule = tuple((int(i), int(h)) for i, h in self.schedule)
        object.__setattr__(self, "schedule", schedule)
        iterations = [i for i, _ in schedule]
        if not schedule or iterations[0] != 0 or iterations != sorted(set(iterations)):
            raise ValueError(
                f"windows.schedule must start at iteration 0 with increasing iterations, "
                f"got {list(schedule)}"
            )
        if min(h for _, h in schedule) < 1:
            raise ValueError(f"windows.schedule horizons must be >= 1, got {list(schedule)}")
        reach = len(causal_kernel(self.sigma, self.kernel))
        if int(self.context) < reach:
            raise ValueError(
                f"windows.context ({self.context}) must cover the start state's {reach} frames "
                f"(sigma {self.sigma}, kernel {self.kernel})"
            )
        if self.validation_horizon is not None and int(self.validation_horizon) < 1:
            raise ValueError(
                f"windows.validation_horizon must be >= 1, got {self.validation_horizon}"
            )

    @classmethod
    def from_dict(cls, values: dict) -> WindowSettings:
        v = dict(values)
        if "schedule" in v:
            v["schedule"] = tuple(tuple(pair) for pair in v["schedule"])
        return cls(**v)

    def horizon_at(self, iteration: int) -> int:
        """H of (0-based) ``iteration``: the last schedule entry at or before it."""
        return [h for i, h in self.schedule if i <= int(iteration)][-1]

    @property
    def max_horizon(self) -> int:
        return max(h for _, h in self.schedule)

    @property
    def eval_horizon(self) -> int:
        if self.validation_horizon is not None:
            return int(self.validation_horizon)
        return self.schedule[-1][1]


@dataclass
class WindowBatch:
    """One iteration's windows: ``starts`` (B,), ``contexts`` (C, B, N) of recorded frames
    before each start, ``targets`` (H, B, N) the recorded frames from each start."""

    starts: np.ndarray
    contexts: Tensor
    targets: Tensor


class WindowFitTask:
    """Fit a recording (T, N) in [0, 1] by forecasts from many windows of its fit block.

    Args:
        n_fit: frames of the fit block (the first ones); the rest is the validation block
            (its windows' contexts reach back into the fit block, as forecasts' do).
        settings: :class:`WindowSettings`.
        seed: seeds every iteration's draw of windows (with the iteration's index).

    Data: the recording (T, N) of normalised, unsmoothed frames (numpy or torch), for training
    and validation. ``evaluate`` -> {"score": −MAE, "mae", "mae_step1", "pvar"}.
    """

    kind = "window_fit"

    def __init__(self, n_fit: int, settings: WindowSettings | None = None, seed: int = 0):
        self.settings = settings or WindowSettings()
        self.n_fit = int(n_fit)
        self.seed = int(seed)
        self._dtype = torch.float32
        need = self.settings.context + self.settings.max_horizon
        if self.n_fit < need:
            raise ValueError(
                f"windows: a fit block of {self.n_fit} frames cannot hold a context of "
                f"{self.settings.context} and a horizon of {self.settings.max_horizon} frames"
            )

    def prepare(self, model) -> None:
        """Match the data's dtype to the model's."""
        self._dtype = next(model.parameters()).dtype

    @staticmethod
    def _check_model(model) -> None:
        check_activity_model(model, "WindowFitTask")

    def _series(self, data) -> np.ndarray:
        series = SequenceFitTask.check_target(data, "cpu", torch.float64).numpy()
        if series.shape[0] <= self.n_fit:
            raise ValueError(
                f"windows: {series.shape[0]} frames leave no validation block after the "
                f"{self.n_fit}-frame fit block"
            )
        return series

    def draw_starts(self, iteration: int) -> np.ndarray:
        """(B,) starts of ``iteration``'s windows, uniform over [C, n_fit − H] (seeded)."""
        horizon = self.settings.horizon_at(iteration)
        rng = np.random.default_rng([self.seed, int(iteration)])
        low, high = self.settings.context, self.n_fit - horizon
        return rng.integers(low, high + 1, size=self.settings.batch)

    def window_batch(self, series, starts: np.ndarray, horizon: int, device=None) -> WindowBatch:
        """The contexts and targets of windows ``starts`` of ``series`` (T, N)."""
        series = np.asarray(series, dtype=np.float64)
        context = np.arange(-self.settings.context, 0)[:, None] + starts[None, :]
        target = np.arange(int(horizon))[:, None] + starts[None, :]
        as_tensor = lambda a: torch.as_tensor(a, dtype=self._dtype, device=device)  # noqa: E731
        return WindowBatch(starts, as_tensor(series[context]), as_tensor(series[target]))

    def batches(self, data, epoch: int, device) -> Iterator[WindowBatch]:
        """One batch per iteration: B windows of the fit block, H from the schedule."""
        series = self._series(data)
        yield self.window_batch(
            series, self.draw_starts(epoch), self.settings.horizon_at(epoch), device
        )

    def start_states(self, model, contexts: Tensor):
        """The model's state at each window's start, from its context (C, B, N) only: the
        causal start estimate (rate), or teacher forcing over the causal estimates (spiking),
        as :func:`neurocircuit.fit.forecast.network_forecast` starts. No gradient."""
        from neurocircuit.fit.forecast import network_start

        self._check_model(model)
        recorded = contexts.detach().cpu().numpy()
        sigma, kernel = self.settings.sigma, self.settings.kernel
        if isinstance(model, RateActivityNetwork):
            frames = start_state(recorded, sigma, kernel)[None]
        else:
            frames = causal_smooth(recorded, sigma, kernel)
        return detach_state(network_start(model, frames))

    def _stats(self, loss: Tensor, batch: WindowBatch) -> dict:
        return {"loss": float(loss.detach()), "horizon": int(batch.targets.shape[0])}

    def bptt_loss(self, model, batch: WindowBatch) -> tuple[Tensor, dict]:
        """MSE of one rollout of the batch of windows over H steps against their targets."""
        state = self.start_states(model, batch.contexts)
        outputs, _ = model.rollout(state, batch.targets.shape[0])
        loss = (outputs - batch.targets).square().mean()
        return loss, self._stats(loss, batch)

    def tbptt_backward(self, model, batch: WindowBatch, window: int) -> dict:
        """The rollout in pieces of ``window`` steps, backward per piece, the state detached
        between pieces (the same loss as ``bptt_loss``)."""
        state = self.start_states(model, batch.contexts)
        steps, total = batch.targets.shape[0], 0.0
        for start in range(0, steps, int(window)):
            n = min(int(window), steps - start)
            outputs, state = model.rollout(state, n)
            error = (outputs - batch.targets[start : start + n]).square()
            loss = error.sum() / batch.targets.numel()
            loss.backward()
            total += float(loss.detach())
            state = detach_state(state)
        return {"loss": total, "horizon": int(steps)}

    @staticmethod
    def _refuse(method: str):
        raise ValueError(f"training on windows supports bptt and tbptt, not {method}")

    def eprop_backward(self, model, batch, feedback=None) -> dict:
        self._refuse("eprop")

    def force_pass(self, model, batch, rls) -> dict:
        self._refuse("force")

    def summarize(self, stats: list[dict]) -> dict:
        """Iteration metrics: loss, score (= − loss: the training MSE), horizon."""
        last = stats[-1]
        return {"loss": last["loss"], "score": -last["loss"], "horizon": last["horizon"]}

    def forecast_scores(self, model, data) -> dict:
        """score_per_step of the model's forecasts of the validation block's windows, built
        and scored by the forecasting code (contexts of C frames before each start)."""
        from neurocircuit.fit.forecast import (
            ForecastSettings,
            forecast_windows,
            network_forecaster,
            window_contexts,
            window_targets,
        )
        from neurocircuit.fit.forecast_scores import score_per_step

        series = self._series(data)
        spec = ForecastSettings(
            self.settings.eval_horizon, self.settings.validation_stride, self.settings.context
        )
        windows = forecast_windows(len(series), self.n_fit, spec)
        ones, zeros = np.ones(series.shape[1]), np.zeros(series.shape[1])
        contexts = window_contexts(series, windows, zeros, ones, self.settings.sigma)
        forecasts = network_forecaster(model)(contexts, windows)
        return score_per_step(forecasts, window_targets(series, windows, 0))

    @torch.no_grad()
    def evaluate(self, model, data, device=None) -> dict:
        """{"score": −MAE, "mae" (over the horizon), "mae_step1", "pvar"} on the validation
        block's windows."""
        self._check_model(model)
        was_training = model.training
        model.eval()
        scores = self.forecast_scores(model, data)
        model.train(was_training)
        mae = float(np.mean(scores["mae"]))
        return {"score": -mae, "mae": mae, "mae_step1": float(scores["mae"][0]),
                "pvar": float(np.nanmean(scores["pvar"]))}  # fmt: skip
