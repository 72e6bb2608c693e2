"""Training configuration: one dataclass for every task and learning rule."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

METHODS = ("bptt", "tbptt", "eprop", "force")
LR_SCHEDULES = ("none", "cosine", "step", "plateau")
FEEDBACKS = ("symmetric", "random")
DEVICES = ("auto", "cpu", "cuda")
RESUME_IGNORED_FIELDS = ("epochs", "progress", "device", "checkpoint_every")
"""Fields that may change between a run and its resumption (the rest must match)."""


@dataclass
class TrainConfig:
    """How ``train`` optimises a model.

    Attributes:
        epochs: passes over the training data (for ``SequenceFitTask`` one epoch is one
            rollout of the whole recording and one update: an "iteration").
        lr: AdamW learning rate (unused by "force").
        weight_decay: AdamW decoupled weight decay, applied to weight matrices only (not to
            biases, time constants, gains, thresholds or Dale sign parameters).
        betas: AdamW betas.
        method: "bptt" (full backpropagation through time), "tbptt" (truncated: windows of
            ``tbptt_window`` steps, state carried and detached between windows) or "eprop"
            (Bellec et al. 2020: eligibility traces forward in time, no backward pass) or
            "force" (recursive least squares on a rate network's W, no gradients: one epoch is
            one pass over the recording, see ``force``; ``lr_schedule`` must be "none").
        tbptt_window: window length K in time steps for "tbptt".
        grad_clip: maximum global gradient norm (None or 0: no clipping).
        lr_schedule: "none", "cosine" (to ``lr * lr_min_fraction`` at the last epoch), "step"
            (times ``lr_gamma`` every ``lr_step_epochs``) or "plateau" (times ``lr_gamma``
            after ``lr_plateau_patience`` evaluations without a better validation score).
        patience: early stop after this many evaluations without a validation score better
            than the best by more than ``min_delta`` (None or 0: never).
        target_score: stop as soon as the validation score reaches this (e.g. a pVar level).
        eval_every: evaluate on the validation data every this many epochs (and at the last).
        seed: seeds every random number generator at the start of a fresh run.
        device: "auto" (cuda when available, else cpu), "cpu" or "cuda".
        progress: show tqdm progress bars.
        eprop_feedback: e-prop learning signals through the readout weights ("symmetric") or a
            fixed random matrix ("random", drawn from ``seed``). Applies to the classifier and
            to ``SpikingActivityNetwork(readout="full")``; in the rate network and the diagonal
            readout each unit is its own output, so the learning signal is exact either way.
        force_alpha: FORCE's regularisation alpha: P starts at I / alpha (larger: smaller
            first updates, weights kept nearer their start).
        force_every: FORCE updates W every this many time steps of a pass.
        checkpoint_every: write the checkpoint every this many epochs (and at the end).
        restore_best: load the weights of the best validation score at the end.
    """

    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    method: str = "bptt"
    tbptt_window: int = 50
    grad_clip: float | None = 1.0
    lr_schedule: str = "none"
    lr_min_fraction: float = 0.0
    lr_step_epochs: int = 10
    lr_gamma: float = 0.5
    lr_plateau_patience: int = 5
    patience: int | None = None
    min_delta: float = 0.0
    target_score: float | None = None
    eval_every: int = 1
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    eprop_feedback: str = "symmetric"
    force_alpha: float = 1.0
    force_every: int = 1
    checkpoint_every: int = 1
    restore_best: bool = True

    def __post_init__(self):
        self.betas = tuple(float(b) for b in self.betas)
        choices = (
            ("method", METHODS),
            ("lr_schedule", LR_SCHEDULES),
            ("eprop_feedback", FEEDBACKS),
        )
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"TrainConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}"
                )
        if not (self.device in DEVICES or str(self.device).startswith("cuda:")):
            raise ValueError(f"TrainConfig.device must be one of {DEVICES}, got {self.device!r}")
        positive_ints = ("epochs", "tbptt_window", "lr_step_epochs", "eval_every", "force_every")
        for name in positive_ints + ("checkpoint_every",):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {value}")
        if not self.force_alpha > 0:
            raise ValueError(f"TrainConfig.force_alpha must be positive, got {self.force_alpha}")
        if self.method == "force" and self.lr_schedule != "none":
            raise ValueError(
                f"TrainConfig.lr_schedule must be 'none' for method 'force' (it has no learning "
                f"rate), got {self.lr_schedule!r}"
            )
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay}")
        if self.grad_clip is not None and self.grad_clip < 0:
            raise ValueError(f"TrainConfig.grad_clip must be >= 0 or None, got {self.grad_clip}")
        if self.patience is not None and self.patience < 0:
            raise ValueError(f"TrainConfig.patience must be >= 0 or None, got {self.patience}")
        if not 0 <= self.lr_min_fraction <= 1:
            raise ValueError(
                f"TrainConfig.lr_min_fraction must lie in [0, 1], got {self.lr_min_fraction}"
            )
        if not 0 < self.lr_gamma <= 1:
            raise ValueError(f"TrainConfig.lr_gamma must lie in (0, 1], got {self.lr_gamma}")

    def to_dict(self) -> dict:
        """Plain-dict copy (JSON-serialisable) for checkpoints and provenance."""
        data = dataclasses.asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Build from a mapping (e.g. a config section); unknown keys are a clear error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig keys {unknown}; known keys: {sorted(known)}")
        return cls(**data)
