"""Training one activity network to reproduce a recording by rollout from its first frame."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from neurocircuit.models.fitted import (
    build_network,
    initialise_by_regression,
    initialise_from_data,
)
from neurocircuit.models.names import WINDOWS, ModelSpec


@dataclass(frozen=True)
class TrainedFit:
    """A trained network with its history: ``result`` is neurocircuit.learning's TrainResult."""

    model: object
    result: object


def iterations_to_reach(history: list[dict], level: float) -> int | None:
    """Parameter updates made before the training rollout first scored pVar ≥ ``level``.

    Row k of the history (epoch k, 1-based) scores the rollout made with the weights after
    k − 1 updates (a gradient step, or for FORCE one pass of recursive least squares over the
    recording); None when no rollout reached ``level``.
    """
    for row in history:
        if float(row["train_score"]) >= level:
            return int(row["epoch"]) - 1
    return None


MIN_GAIN = 0.01
"""Gains over the baseline smaller than this (pVar units) count as none."""


def iterations_to_half_gain(
    history: list[dict], baseline_pvar: float, min_gain: float = MIN_GAIN
) -> int | None:
    """Parameter updates made before the training rollout first gained half of what the run
    gained over ``baseline_pvar`` (the time-mean baseline's pVar): the first rollout with
    pVar ≥ baseline + (final − baseline) / 2, final being the best training pVar of the run.

    A fixed level (pVar 0.9) is reached at once by a network that starts near a high baseline
    and never by one on data whose baseline is low, so it measures the data as much as the
    learning; half the gain is measured from where the network starts to where it ends.
    Rows as in :func:`iterations_to_reach`. None when the run gained nothing (final below
    baseline + ``min_gain``, or no finite score): a network that sits at the baseline would
    otherwise "reach half its gain" at once.
    """
    scores = [float(row["train_score"]) for row in history]
    finite = [score for score in scores if math.isfinite(score)]
    if not finite or max(finite) < baseline_pvar + min_gain:
        return None
    return iterations_to_reach(history, baseline_pvar + 0.5 * (max(finite) - baseline_pvar))


def train_on_sequence(
    target: np.ndarray,
    spec: ModelSpec,
    *,
    network_options: dict,
    training: dict,
    seed: int,
    device: str = "auto",
    checkpoint_path: str | Path | None = None,
    fingerprint: dict | None = None,
    validation_frames: int = 0,
    logger=None,
    recorded: np.ndarray | None = None,
    sigma: float | None = None,
) -> TrainedFit:
    """Train a network of N units to reproduce ``target`` (T, N) in [0, 1] by rollout from frame 0
    (``spec.objective`` "rollout", the paper's protocol) or by forecasts from windows of the
    recording (``spec.objective`` "windows", :mod:`neurocircuit.fit.window_task`).

    ``training``: neurocircuit.learning.TrainConfig fields, plus ``stop_pvar`` (stop once the
    rollout's pVar reaches it: the paper's criterion; maps to ``target_score``) and, for FORCE,
    ``force`` = {alpha, passes, every} (``force_alpha``, ``epochs``: one pass is one
    iteration, ``force_every``; neurocircuit.learning.force). The method comes from ``spec``.
    Selection and stopping only ever look at ``target`` (training frames).
    ``checkpoint_path`` resumes an interrupted run whose ``fingerprint`` (the run's settings)
    matches; any other checkpoint there is ignored (neurocircuit.learning.train).
    ``validation_frames``: the last frames of ``target`` form a validation block that the loss
    leaves out and that picks the iteration kept (and the stopping), see SequenceFitTask.

    Windows: ``recorded`` (T, N) the same frames normalised and not smoothed (the windows'
    contexts and targets), ``sigma`` the preprocessing's smoothing (the start state's),
    ``training["windows"]`` the :class:`~neurocircuit.fit.window_task.WindowSettings` fields;
    the last ``validation_frames`` (>= 1) are the validation block whose windowed forecasts
    pick the iteration kept; ``stop_pvar`` does not apply. The network is built and
    initialised exactly as for the rollout objective (one factor differs).
    """
    from neurocircuit.learning import SequenceFitTask, TrainConfig, train

    options = dict(training)
    windows = options.pop("windows", None) or {}
    stop_pvar = options.pop("stop_pvar", None)
    force = options.pop("force", None) or {}
    if spec.method == "force":
        names = {"alpha": "force_alpha", "passes": "epochs", "every": "force_every"}
        options.update({names[key]: value for key, value in force.items()})
    cfg = TrainConfig.from_dict(
        {
            **options,
            "method": spec.method,
            "seed": int(seed),
            "device": device,
            "target_score": stop_pvar,
        }
    )
    model = build_network(spec, target.shape[1], network_options, seed)
    fit_block = target[: len(target) - validation_frames]
    if network_options.get("init_from_data", True):
        initialise_from_data(
            model, fit_block, network_options.get("spiking", {}).get("init", "data")
        )
    if network_options.get("init_weights", "random") == "regression":
        initialise_by_regression(model, fit_block, network_options.get("init_ridge", 0.01))
    task, data = SequenceFitTask(validation_frames=validation_frames), target
    if spec.objective == WINDOWS:
        task, data = _window_task(spec, recorded, validation_frames, windows, sigma, seed)
        cfg = replace(cfg, target_score=None)
    result = train(
        model,
        task,
        data.astype(np.float32),
        None,
        cfg,
        checkpoint_path=checkpoint_path,
        fingerprint=fingerprint,
        logger=logger,
    )
    model.cpu()
    return TrainedFit(model, result)


def _window_task(spec: ModelSpec, recorded, validation_frames: int, windows: dict, sigma, seed):
    """(WindowFitTask, its data) of a ``_windows`` model (train_on_sequence's arguments)."""
    from neurocircuit.fit.window_task import WindowFitTask, WindowSettings

    if recorded is None or sigma is None or validation_frames < 1:
        raise ValueError(
            f"{spec.name}: training on windows needs the recorded frames, the smoothing sigma "
            f"and a validation block (got {validation_frames} validation frames)"
        )
    settings = WindowSettings.from_dict({"sigma": float(sigma), **windows})
    n_fit = len(recorded) - int(validation_frames)
    return WindowFitTask(n_fit, settings, seed), np.asarray(recorded)


def history_rows(history: list[dict]) -> list[dict]:
    """The training history as the figures read it: ``iteration`` (updates done before this
    rollout), ``pvar`` (that rollout's pVar on the training frames), ``loss``, the loop's other
    columns (learning rate, gradient norm, time per epoch, validation scores) and ``elapsed_s``
    (cumulative training time, s). Written by neurocircuit.learning.training.write_history_csv."""
    rows, elapsed = [], 0.0
    for row in history:
        rest = dict(row)
        elapsed += float(rest["epoch_time_s"])
        head = {
            "iteration": int(rest["epoch"]) - 1,
            "pvar": rest.pop("train_score"),
            "loss": rest.pop("train_loss"),
        }
        rows.append({**head, **rest, "elapsed_s": elapsed})
    return rows
