"""Training checkpoints: the one resume mechanism of the package.

A checkpoint (``torch.save`` of a dict, written atomically) records ``run_hash(cfg,
fingerprint)``: a hash of the caller's fingerprint (a JSON-able mapping of what defines the
run: data set, seed, model settings...) and of the ``TrainConfig`` without the fields a resumed
run may change (``RESUME_IGNORED_FIELDS``: epochs, progress, device, checkpoint_every).
``resumable_checkpoint`` hands ``train`` a checkpoint only when that hash matches; a
checkpoint of other settings, an unreadable file or a foreign format gets one warning naming
the file and the reason, and the run starts from scratch (its first checkpoint replaces the
file). No sidecar files, no hashed file names.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from neurocircuit.learning.config import RESUME_IGNORED_FIELDS, TrainConfig
from neurocircuit.runtime import atomic_path, config_hash

CHECKPOINT_FORMAT = "neurocircuit-checkpoint-2"
"""Payload format of ``train``'s checkpoints (2: with the run hash; older files are foreign)."""


def rng_state() -> dict:
    """The states of every random number generator (torch, CUDA, NumPy, Python)."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the generators' states saved by ``rng_state``."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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
        found = payload.get("format") if isinstance(payload, dict) else None
        detail = f" (format {found!r}, this version reads {CHECKPOINT_FORMAT!r})" if found else ""
        raise ValueError(f"{path} is not a neurocircuit training checkpoint{detail}")
    return payload


def run_hash(cfg: TrainConfig, fingerprint: Mapping | None = None) -> str:
    """The hash that ties a checkpoint to its run (``runtime.config_hash``).

    It covers ``fingerprint`` (the caller's JSON-able description of the run) and ``cfg``
    without ``RESUME_IGNORED_FIELDS``, so a run may resume with more epochs, another device,
    progress bar or checkpoint interval, and with nothing else changed.
    """
    kept = {k: v for k, v in cfg.to_dict().items() if k not in RESUME_IGNORED_FIELDS}
    return config_hash({"fingerprint": dict(fingerprint or {}), "train_config": kept})


def _flatten(mapping: Mapping, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}: nested settings named key by key."""
    flat = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _run_changes(payload: dict, cfg: TrainConfig, fingerprint: Mapping | None) -> str:
    """What differs between the run that wrote ``payload`` and this one, for the warning."""
    changes = []
    for stored, current, ignored in (
        (payload.get("config") or {}, cfg.to_dict(), RESUME_IGNORED_FIELDS),
        (payload.get("fingerprint") or {}, dict(fingerprint or {}), ()),
    ):
        stored, current = _flatten(stored), _flatten(current)
        for key in sorted(set(stored) | set(current)):
            if key not in ignored and stored.get(key) != current.get(key):
                changes.append(f"{key}: {stored.get(key)!r} -> {current.get(key)!r}")
    return "; ".join(changes) or "another run hash"


def resumable_checkpoint(
    path: Path | None, cfg: TrainConfig, fingerprint: Mapping | None, logger: logging.Logger
) -> dict | None:
    """The checkpoint at ``path`` when it belongs to this run, else None.

    A checkpoint of other settings, an unreadable file or a foreign format gets one warning
    that names the file and the reason; the caller then trains from scratch and its first
    checkpoint replaces the file.
    """
    if path is None or not path.exists():
        return None
    try:
        payload = load_checkpoint(path)
    except ValueError as error:
        logger.warning("%s: training from scratch (the file will be overwritten)", error)
        return None
    if payload.get("run_hash") == run_hash(cfg, fingerprint):
        return payload
    logger.warning(
        "checkpoint %s was written by a run with other settings (%s): training from scratch "
        "(the file will be overwritten)",
        path,
        _run_changes(payload, cfg, fingerprint),
    )
    return None
