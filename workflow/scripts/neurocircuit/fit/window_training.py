"""Training a fitted network on windows (issue #21, item 1): the entry point.

:func:`train_on_windows` trains a ``RateActivityNetwork`` or ``SpikingActivityNetwork`` with
:class:`neurocircuit.fit.window_task.WindowFitTask` through the common training loop
(:func:`neurocircuit.learning.train`): seeded batches of windows of the fit block, each started
from the causal start state, the validation block's windowed forecasts picking the iteration
kept and the stopping. Not used by any rule yet; the paper's single rollout
(:func:`neurocircuit.fit.training.train_on_sequence`) is unchanged.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from neurocircuit.fit.window_task import WindowFitTask, WindowSettings

WINDOW_KEYS = tuple(f.name for f in fields(WindowSettings))
"""The keys of ``settings`` that are :class:`WindowSettings` fields; the rest are TrainConfig's."""


def split_settings(settings: dict) -> tuple[WindowSettings, dict]:
    """(WindowSettings, TrainConfig fields) of one flat ``settings`` mapping."""
    values = dict(settings)
    windows = {key: values.pop(key) for key in WINDOW_KEYS if key in values}
    return WindowSettings.from_dict(windows), values


def train_on_windows(model, series, n_fit: int, settings: dict, seed: int, **train_kwargs):
    """Train ``model`` on windows of ``series`` (T, N): normalised, unsmoothed frames in
    [0, 1], the first ``n_fit`` the fit block, the rest the validation block. ``settings``:
    :class:`WindowSettings` fields (batch, context, schedule, sigma, kernel,
    validation_horizon, validation_stride) and :class:`neurocircuit.learning.TrainConfig`
    fields (epochs = iterations, lr, method: bptt or tbptt, ...). ``seed`` seeds the loop and
    the windows. Other keyword arguments go to :func:`neurocircuit.learning.train`. Returns
    its TrainResult; ``model`` holds the weights kept (the best validation score when
    ``restore_best``)."""
    from neurocircuit.learning import TrainConfig, train

    windows, options = split_settings(settings)
    options.setdefault("progress", False)
    cfg = TrainConfig.from_dict({**options, "seed": int(seed)})
    if cfg.method not in ("bptt", "tbptt"):
        raise ValueError(f"training on windows supports bptt and tbptt, not {cfg.method}")
    task = WindowFitTask(n_fit, windows, seed)
    series = np.asarray(series, dtype=np.float32)
    return train(model, task, series, None, cfg, **train_kwargs)
