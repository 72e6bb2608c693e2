"""Training one activity network to reproduce a recording by rollout from its first frame."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurocircuit.models.fitted import build_network, initialise_from_data
from neurocircuit.models.names import ModelSpec


@dataclass(frozen=True)
class FitRun:
    """A trained network with its history: ``result`` is neurocircuit.learning's TrainResult."""

    model: object
    result: object
    iterations_to_convergence: int | None


def iterations_to_reach(history: list[dict], level: float) -> int | None:
    """Parameter updates made before the training rollout first scored pVar ≥ ``level``.

    Row k of the history (epoch k, 1-based) scores the rollout made with the weights after
    k − 1 updates; None when no rollout reached ``level``.
    """
    for row in history:
        if float(row["train_score"]) >= level:
            return int(row["epoch"]) - 1
    return None


def train_on_sequence(
    target: np.ndarray,
    spec: ModelSpec,
    *,
    network_options: dict,
    training: dict,
    seed: int,
    device: str = "auto",
    convergence_pvar: float = 0.9,
    checkpoint_path: str | Path | None = None,
    fingerprint: dict | None = None,
    logger=None,
) -> FitRun:
    """Train a network of N units to reproduce ``target`` (T, N) in [0, 1] by rollout from frame 0.

    ``training``: neurocircuit.learning.TrainConfig fields, plus ``stop_pvar`` (stop once the
    rollout's pVar reaches it: the paper's criterion; maps to ``target_score``). The method comes
    from ``spec``. Selection and stopping only ever look at ``target`` (training frames).
    ``checkpoint_path`` resumes an interrupted run whose ``fingerprint`` (the run's settings)
    matches; any other checkpoint there is ignored (neurocircuit.learning.train).
    """
    from neurocircuit.learning import SequenceFitTask, TrainConfig, train

    options = dict(training)
    stop_pvar = options.pop("stop_pvar", None)
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
    if network_options.get("init_from_data", True):
        initialise_from_data(model, target)
    result = train(
        model,
        SequenceFitTask(),
        target.astype(np.float32),
        None,
        cfg,
        checkpoint_path=checkpoint_path,
        fingerprint=fingerprint,
        logger=logger,
    )
    model.cpu()
    return FitRun(model, result, iterations_to_reach(result.history, convergence_pvar))


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
