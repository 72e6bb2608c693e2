"""One training loop for every task and learning rule, with checkpoints that resume exactly.

``train`` runs AdamW (or, for method "force", recursive least squares: ``force``) with an
optional learning-rate schedule, gradient clipping, early stopping on the validation score, a
tqdm progress bar, a CSV history rewritten atomically each epoch (``write_history_csv``, the
one history writer of the package), and a checkpoint each epoch (model, optimizer, scheduler,
RNG states, epoch, best weights, history, config, package versions and the run's hash; see
``checkpoints``). A run killed at any point and started again
with the same ``checkpoint_path``, ``fingerprint`` and config (epochs may grow) continues from
the last checkpoint and ends with the same weights as an uninterrupted run (same seed and
machine, CPU); a checkpoint of another run is named in a warning and trained over.
"""

from __future__ import annotations

import copy
import csv
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neurocircuit.learning.checkpoints import (
    CHECKPOINT_FORMAT,
    resumable_checkpoint,
    rng_state,
    run_hash,
    save_checkpoint,
    set_rng_state,
)
from neurocircuit.learning.config import TrainConfig
from neurocircuit.learning.eprop import random_feedback
from neurocircuit.learning.force import RecursiveLeastSquares
from neurocircuit.runtime import atomic_path, package_versions, seed_everything, select_device


@dataclass
class TrainResult:
    """What ``train`` returns.

    history: one dict per epoch (epoch, train_loss, train_score, val_* metrics, lr, grad_norm,
    epoch_time_s, ...); best_score / best_epoch: the best validation score and its epoch (the
    model holds those weights when ``restore_best``); epochs_run: epochs completed in total
    (across resumptions); stopped_early / stop_reason: why it stopped before ``cfg.epochs``
    ("patience", "target_score" or None); resumed_from: epochs already done in the checkpoint
    this call resumed from (None for a fresh run); device: where it ran; wall_time_s: this
    call's training time.
    """

    history: list[dict] = field(default_factory=list)
    best_score: float = float("-inf")
    best_epoch: int | None = None
    epochs_run: int = 0
    stopped_early: bool = False
    stop_reason: str | None = None
    resumed_from: int | None = None
    device: str = "cpu"
    wall_time_s: float = 0.0


def make_optimizer(
    model: torch.nn.Module, cfg: TrainConfig
) -> torch.optim.AdamW | RecursiveLeastSquares:
    """AdamW with weight decay on weight matrices (ndim >= 2) only; for method "force", FORCE's
    recursive least squares (P = I / ``force_alpha``), which takes the optimizer's place."""
    if cfg.method == "force":
        return RecursiveLeastSquares(model, cfg.force_alpha, cfg.force_every)
    decayed, plain = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decayed if parameter.dim() >= 2 else plain).append(parameter)
    groups = [{"params": decayed, "weight_decay": cfg.weight_decay}]
    if plain:
        groups.append({"params": plain, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def make_scheduler(optimizer, cfg: TrainConfig):
    """The learning-rate scheduler for ``cfg.lr_schedule`` (stepped once per epoch), or None."""
    if cfg.lr_schedule == "none":
        return None
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=cfg.epochs, eta_min=cfg.lr * cfg.lr_min_fraction
        )
    if cfg.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=cfg.lr_step_epochs, gamma=cfg.lr_gamma
        )
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=cfg.lr_gamma, patience=cfg.lr_plateau_patience
    )


def _cpu_state_dict(model: torch.nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def write_history_csv(rows: list[dict], path: str | Path) -> None:
    """Write a per-epoch history (one dict per epoch) as CSV, atomically.

    The one history writer of the package (training, classification, fitting). Columns come
    in order of first appearance; a row without a column leaves its cell empty.
    """
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)


def _grad_norm(model: torch.nn.Module, clip: float | None) -> float:
    parameters = [p for p in model.parameters() if p.grad is not None]
    if not parameters:
        return 0.0
    if clip:
        return float(torch.nn.utils.clip_grad_norm_(parameters, clip))
    return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in parameters])))


@dataclass
class _Run:
    """One call of ``train``: what it optimises, and what it carries from epoch to epoch."""

    model: torch.nn.Module
    task: object
    cfg: TrainConfig
    device: torch.device
    optimizer: torch.optim.Optimizer
    scheduler: object
    feedback: torch.Tensor | None
    result: TrainResult
    best_state: dict | None = None
    bad_evaluations: int = 0


def _start_run(model: torch.nn.Module, task, cfg: TrainConfig) -> _Run:
    """Move ``model`` to the device and build the optimizer, scheduler and e-prop feedback."""
    device = select_device(cfg.device)
    model.to(device)
    if hasattr(task, "prepare"):
        task.prepare(model)
    optimizer = make_optimizer(model, cfg)
    scheduler = make_scheduler(optimizer, cfg)
    feedback = None
    if cfg.method == "eprop" and cfg.eprop_feedback == "random":
        feedback = random_feedback(model, cfg.seed)
    result = TrainResult(device=str(device))
    return _Run(model, task, cfg, device, optimizer, scheduler, feedback, result)


def _restore(run: _Run, payload: dict) -> int:
    """Load a checkpoint's model, optimizer, scheduler, RNG and progress; its epoch count."""
    run.model.load_state_dict(payload["model"])
    run.optimizer.load_state_dict(payload["optimizer"])
    if run.scheduler is not None and payload["scheduler"] is not None:
        run.scheduler.load_state_dict(payload["scheduler"])
        if run.cfg.lr_schedule == "cosine":  # more epochs than before: decay to the new end
            run.scheduler.T_max = run.cfg.epochs
    set_rng_state(payload["rng"])
    run.best_state = payload["best_state"]
    run.bad_evaluations = payload["bad_evaluations"]
    result = run.result
    result.history = payload["history"]
    result.best_score = payload["best_score"]
    result.best_epoch = payload["best_epoch"]
    result.stopped_early = payload["stopped_early"]
    result.stop_reason = payload["stop_reason"]
    result.resumed_from = payload["epoch"]
    return payload["epoch"]


def _checkpoint_payload(run: _Run, epochs_done: int, fingerprint: Mapping | None) -> dict:
    """Everything a resumed run needs, with the run's hash and provenance."""
    return {
        "format": CHECKPOINT_FORMAT,
        "run_hash": run_hash(run.cfg, fingerprint),
        "fingerprint": dict(fingerprint or {}),
        "epoch": epochs_done,
        "model": _cpu_state_dict(run.model),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": None if run.scheduler is None else run.scheduler.state_dict(),
        "rng": rng_state(),
        "best_state": run.best_state,
        "best_score": run.result.best_score,
        "best_epoch": run.result.best_epoch,
        "bad_evaluations": run.bad_evaluations,
        "history": run.result.history,
        "stopped_early": run.result.stopped_early,
        "stop_reason": run.result.stop_reason,
        "config": run.cfg.to_dict(),
        "model_class": type(run.model).__name__,
        "model_kwargs": getattr(run.model, "init_kwargs", None),
        "versions": package_versions(),
    }


def _backward(run: _Run, batch) -> dict:
    """Gradients of one batch by the configured learning rule; the batch's statistics."""
    if run.cfg.method == "bptt":
        loss, batch_stats = run.task.bptt_loss(run.model, batch)
        loss.backward()
        return batch_stats
    if run.cfg.method == "tbptt":
        return run.task.tbptt_backward(run.model, batch, run.cfg.tbptt_window)
    if run.cfg.method == "force":  # W updated in the pass; no gradients, step() does nothing
        return run.task.force_pass(run.model, batch, run.optimizer)
    return run.task.eprop_backward(run.model, batch, run.feedback)


def _train_batches(run: _Run, train_data, epoch: int) -> tuple[list[dict], list[float]]:
    """One optimizer step per batch of epoch ``epoch``: per-batch statistics and grad norms."""
    run.model.train()
    stats, norms = [], []
    batches = run.task.batches(train_data, epoch, run.device)
    if run.task.kind == "classification":
        batches = tqdm(batches, desc=f"epoch {epoch + 1}", leave=False, unit="batch",
                       disable=not run.cfg.progress, dynamic_ncols=True)  # fmt: skip
    for batch in batches:
        run.optimizer.zero_grad(set_to_none=True)
        batch_stats = _backward(run, batch)
        norms.append(_grad_norm(run.model, run.cfg.grad_clip))
        run.optimizer.step()
        stats.append(batch_stats)
    if not stats:
        raise ValueError(f"the training data yielded no batches in epoch {epoch}")
    return stats, norms


def _evaluate(run: _Run, data, epoch: int, row: dict) -> None:
    """Score ``data`` into ``row`` (val_*), keep the best weights, decide on stopping early."""
    cfg, result = run.cfg, run.result
    val = run.task.evaluate(run.model, data, run.device)
    row.update({f"val_{k}": v for k, v in val.items()})
    score = float(val["score"])
    if math.isfinite(score) and score > result.best_score + cfg.min_delta:
        result.best_score, result.best_epoch = score, epoch + 1
        run.best_state = _cpu_state_dict(run.model)
        run.bad_evaluations = 0
    else:
        run.bad_evaluations += 1
    if cfg.target_score is not None and score >= cfg.target_score:
        result.stopped_early, result.stop_reason = True, "target_score"
    elif cfg.patience and run.bad_evaluations >= cfg.patience:
        result.stopped_early, result.stop_reason = True, "patience"


def _run_epoch(run: _Run, train_data, val_data, epoch: int) -> dict:
    """Train one epoch, evaluate when due, step the scheduler; the epoch's history row."""
    cfg = run.cfg
    epoch_start = time.perf_counter()
    stats, norms = _train_batches(run, train_data, epoch)
    train_metrics = run.task.summarize(stats)
    row = {"epoch": epoch + 1, "train_loss": train_metrics["loss"],
           "train_score": train_metrics["score"]}  # fmt: skip
    evaluated = (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs
    if evaluated:
        _evaluate(run, train_data if val_data is None else val_data, epoch, row)
    row["lr"] = run.optimizer.param_groups[0]["lr"]
    row["grad_norm"] = float(np.mean(norms))
    if run.scheduler is not None:
        if cfg.lr_schedule == "plateau":
            if evaluated:
                run.scheduler.step(row["val_score"])
        else:
            run.scheduler.step()
    row["epoch_time_s"] = time.perf_counter() - epoch_start
    return row


def _log_epoch(logger: logging.Logger, row: dict, epochs: int) -> None:
    logger.info(
        "epoch %d/%d train_loss %.4g train_score %.4g%s",
        row["epoch"],
        epochs,
        row["train_loss"],
        row["train_score"],
        f" val_score {row['val_score']:.4g}" if "val_score" in row else "",
    )


def train(
    model: torch.nn.Module,
    task,
    train_data,
    val_data,
    cfg: TrainConfig,
    *,
    checkpoint_path: str | Path | None = None,
    fingerprint: Mapping | None = None,
    history_path: str | Path | None = None,
    logger: logging.Logger | None = None,
    on_epoch_end: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``task`` and return a ``TrainResult``.

    Args:
        model: a ``SpikingClassifier`` (with ``ClassificationTask``) or an activity network
            (with ``SequenceFitTask``); moved to the configured device.
        task: ``ClassificationTask`` or ``SequenceFitTask``.
        train_data: the task's data (see the task): batches or a callable(epoch) -> batches for
            classification, the recording (T, N) for fitting.
        val_data: the same for validation; None scores the training data after each epoch.
        cfg: ``TrainConfig``.
        checkpoint_path: checkpoint file, written each ``cfg.checkpoint_every`` epochs (and
            at the end). When it exists at the start and belongs to this run (same
            ``run_hash(cfg, fingerprint)``), training resumes from it; otherwise a warning
            names the file and the reason and training starts from scratch.
        fingerprint: JSON-able mapping of what defines the run besides ``cfg`` (data set,
            seed, model settings, splits...): a checkpoint of another fingerprint is not
            resumed. Leave out what may change on resume (e.g. the number of epochs).
        history_path: CSV of the history, rewritten atomically each epoch.
        logger: receives one line per epoch (default: this module's logger).
        on_epoch_end: called with each epoch's history row after it is saved (a hook for
            tests and callers; an exception raised here stops training like a kill would).
    """
    logger = logger or logging.getLogger(__name__)
    run = _start_run(model, task, cfg)
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
    start_epoch = 0
    payload = resumable_checkpoint(checkpoint_path, cfg, fingerprint, logger)
    if payload is not None:
        start_epoch = _restore(run, payload)
        logger.info("resuming from %s after epoch %d", checkpoint_path, start_epoch)
    else:
        seed_everything(cfg.seed)
    result = run.result
    started = time.perf_counter()
    epochs = range(start_epoch, cfg.epochs) if not result.stopped_early else range(0)
    bar = tqdm(epochs, total=cfg.epochs, initial=start_epoch, disable=not cfg.progress,
               desc="epochs", dynamic_ncols=True)  # fmt: skip
    for epoch in bar:
        row = _run_epoch(run, train_data, val_data, epoch)
        result.history.append(row)
        if history_path is not None:
            write_history_csv(result.history, history_path)
        due = (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs
        if checkpoint_path is not None and (due or result.stopped_early):
            save_checkpoint(checkpoint_path, _checkpoint_payload(run, epoch + 1, fingerprint))
        _log_epoch(logger, row, cfg.epochs)
        bar.set_postfix(score=f"{row.get('val_score', row['train_score']):.4g}")
        if on_epoch_end is not None:
            on_epoch_end(row)
        if result.stopped_early:
            logger.info("stopping early after epoch %d: %s", epoch + 1, result.stop_reason)
            break
    bar.close()
    result.epochs_run = len(result.history)
    result.wall_time_s = time.perf_counter() - started
    if cfg.restore_best and run.best_state is not None:
        model.load_state_dict(run.best_state)
    return result


def copy_model(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``model`` (e.g. to keep the initial weights)."""
    return copy.deepcopy(model)
