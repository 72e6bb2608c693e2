"""One training loop for every task and learning rule, with checkpoints that resume exactly.

``train`` runs AdamW with an optional learning-rate schedule, gradient clipping, early
stopping on the validation score, a tqdm progress bar, a CSV history rewritten atomically each
epoch, and a checkpoint each epoch (model, optimizer, scheduler, RNG states, epoch, best
weights, history, config and package versions). A run killed at any point and started again
with the same ``checkpoint_path`` continues from the last checkpoint and ends with the same
weights as an uninterrupted run (same seed and machine, CPU).
"""

from __future__ import annotations

import copy
import csv
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neurocircuit.learning.config import RESUME_IGNORED_FIELDS, TrainConfig
from neurocircuit.learning.eprop import random_feedback
from neurocircuit.runtime import atomic_path, package_versions, seed_everything, select_device

CHECKPOINT_FORMAT = "neurocircuit-checkpoint-1"


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


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices (ndim >= 2) only."""
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


def _rng_state() -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _cpu_state_dict(model: torch.nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def write_history_csv(history: list[dict], path: str | Path) -> None:
    """Write the per-epoch history as CSV, atomically (columns in order of first appearance)."""
    columns: list[str] = []
    for row in history:
        columns.extend(key for key in row if key not in columns)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(history)


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """``torch.save`` of ``payload`` to ``path``, atomically."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint written by ``train`` (our own file: full unpickling)."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets one clear message
        raise ValueError(f"checkpoint {path} cannot be read ({error})") from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a neurocircuit training checkpoint")
    return payload


def _check_resume_config(path: Path, stored: dict, cfg: TrainConfig) -> None:
    current = cfg.to_dict()
    differing = sorted(
        key
        for key in set(stored) | set(current)
        if key not in RESUME_IGNORED_FIELDS and stored.get(key) != current.get(key)
    )
    if differing:
        details = ", ".join(f"{k}: {stored.get(k)!r} -> {current.get(k)!r}" for k in differing)
        raise ValueError(
            f"checkpoint {path} was written with a different training config ({details}); "
            "delete it to start over or use the original config"
        )


def _grad_norm(model: torch.nn.Module, clip: float | None) -> float:
    parameters = [p for p in model.parameters() if p.grad is not None]
    if not parameters:
        return 0.0
    if clip:
        return float(torch.nn.utils.clip_grad_norm_(parameters, clip))
    return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in parameters])))


def train(
    model: torch.nn.Module,
    task,
    train_data,
    val_data,
    cfg: TrainConfig,
    *,
    checkpoint_path: str | Path | None = None,
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
        checkpoint_path: checkpoint file, written each ``cfg.checkpoint_every`` epochs; when it
            exists at the start, training resumes from it (its config must match ``cfg`` apart
            from epochs, progress, device and checkpoint_every).
        history_path: CSV of the history, rewritten atomically each epoch.
        logger: receives one line per epoch (default: this module's logger).
        on_epoch_end: called with each epoch's history row after it is saved (a hook for
            tests and callers; an exception raised here stops training like a kill would).
    """
    logger = logger or logging.getLogger(__name__)
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
    best_state = None
    bad_evaluations = 0
    start_epoch = 0
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None

    if checkpoint_path is not None and checkpoint_path.exists():
        payload = load_checkpoint(checkpoint_path)
        _check_resume_config(checkpoint_path, payload["config"], cfg)
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None and payload["scheduler"] is not None:
            scheduler.load_state_dict(payload["scheduler"])
            if cfg.lr_schedule == "cosine":  # more epochs than before: decay to the new end
                scheduler.T_max = cfg.epochs
        _set_rng_state(payload["rng"])
        best_state = payload["best_state"]
        bad_evaluations = payload["bad_evaluations"]
        start_epoch = payload["epoch"]
        result.history = payload["history"]
        result.best_score = payload["best_score"]
        result.best_epoch = payload["best_epoch"]
        result.stopped_early = payload["stopped_early"]
        result.stop_reason = payload["stop_reason"]
        result.resumed_from = start_epoch
        logger.info("resuming from %s after epoch %d", checkpoint_path, start_epoch)
    else:
        seed_everything(cfg.seed)

    def checkpoint(epochs_done: int) -> None:
        if checkpoint_path is None:
            return
        save_checkpoint(
            checkpoint_path,
            {
                "format": CHECKPOINT_FORMAT,
                "epoch": epochs_done,
                "model": _cpu_state_dict(model),
                "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "rng": _rng_state(),
                "best_state": best_state,
                "best_score": result.best_score,
                "best_epoch": result.best_epoch,
                "bad_evaluations": bad_evaluations,
                "history": result.history,
                "stopped_early": result.stopped_early,
                "stop_reason": result.stop_reason,
                "config": cfg.to_dict(),
                "model_class": type(model).__name__,
                "model_kwargs": getattr(model, "init_kwargs", None),
                "versions": package_versions(),
            },
        )

    started = time.perf_counter()
    epochs = range(start_epoch, cfg.epochs) if not result.stopped_early else range(0)
    bar = tqdm(epochs, total=cfg.epochs, initial=start_epoch, disable=not cfg.progress,
               desc="epochs", dynamic_ncols=True)  # fmt: skip
    for epoch in bar:
        epoch_start = time.perf_counter()
        model.train()
        stats, norms = [], []
        batches = task.batches(train_data, epoch, device)
        if task.kind == "classification":
            batches = tqdm(batches, desc=f"epoch {epoch + 1}", leave=False, unit="batch",
                           disable=not cfg.progress, dynamic_ncols=True)  # fmt: skip
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            if cfg.method == "bptt":
                loss, batch_stats = task.bptt_loss(model, batch)
                loss.backward()
            elif cfg.method == "tbptt":
                batch_stats = task.tbptt_backward(model, batch, cfg.tbptt_window)
            else:
                batch_stats = task.eprop_backward(model, batch, feedback)
            norms.append(_grad_norm(model, cfg.grad_clip))
            optimizer.step()
            stats.append(batch_stats)
        if not stats:
            raise ValueError(f"the training data yielded no batches in epoch {epoch}")
        train_metrics = task.summarize(stats)
        row = {"epoch": epoch + 1, "train_loss": train_metrics["loss"],
               "train_score": train_metrics["score"]}  # fmt: skip
        is_last = epoch + 1 == cfg.epochs
        evaluated = (epoch + 1) % cfg.eval_every == 0 or is_last
        if evaluated:
            data = train_data if val_data is None else val_data
            val = task.evaluate(model, data, device)
            row.update({f"val_{k}": v for k, v in val.items()})
            score = float(val["score"])
            if math.isfinite(score) and score > result.best_score + cfg.min_delta:
                result.best_score, result.best_epoch = score, epoch + 1
                best_state = _cpu_state_dict(model)
                bad_evaluations = 0
            else:
                bad_evaluations += 1
            if cfg.target_score is not None and score >= cfg.target_score:
                result.stopped_early, result.stop_reason = True, "target_score"
            elif cfg.patience and bad_evaluations >= cfg.patience:
                result.stopped_early, result.stop_reason = True, "patience"
        row["lr"] = optimizer.param_groups[0]["lr"]
        row["grad_norm"] = float(np.mean(norms))
        if scheduler is not None:
            if cfg.lr_schedule == "plateau":
                if evaluated:
                    scheduler.step(row["val_score"])
            else:
                scheduler.step()
        row["epoch_time_s"] = time.perf_counter() - epoch_start
        result.history.append(row)
        if history_path is not None:
            write_history_csv(result.history, history_path)
        if (epoch + 1) % cfg.checkpoint_every == 0 or is_last or result.stopped_early:
            checkpoint(epoch + 1)
        logger.info(
            "epoch %d/%d train_loss %.4g train_score %.4g%s",
            epoch + 1,
            cfg.epochs,
            row["train_loss"],
            row["train_score"],
            f" val_score {row['val_score']:.4g}" if "val_score" in row else "",
        )
        bar.set_postfix(score=f"{row.get('val_score', row['train_score']):.4g}")
        if on_epoch_end is not None:
            on_epoch_end(row)
        if result.stopped_early:
            logger.info("stopping early after epoch %d: %s", epoch + 1, result.stop_reason)
            break
    bar.close()
    result.epochs_run = len(result.history)
    result.wall_time_s = time.perf_counter() - started
    if cfg.restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return result


def copy_model(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``model`` (e.g. to keep the initial weights)."""
    return copy.deepcopy(model)
