"""Tasks: what a model is trained on, how its loss is computed and how it is scored.

A task knows its data format, its loss for each learning rule (BPTT, truncated BPTT, e-prop;
FORCE for rate networks fitted to a recording) and its evaluation. ``train`` drives any task
the same way.

- ``ClassificationTask``: cross-entropy of the maximum over time of the readout
  (SpyTorch's max-over-time readout); score = accuracy.
- ``SequenceFitTask``: a recording (T, N) in [0, 1]; the network is rolled out from frame 0,
  fed back its own output, and fitted by MSE; score = pVar (1 - MSE / Var, pooled over neurons
  and the predicted frames 1..T-1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from neurocircuit.learning import eprop, force
from neurocircuit.metrics import pvar, pvar_per_neuron
from neurocircuit.models.activity import RateActivityNetwork, SpikingActivityNetwork
from neurocircuit.models.classifier import SpikingClassifier


def detach_state(state):
    """A copy of a (nested NamedTuple) model state with every tensor detached."""
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(detach_state(s) for s in state))
    if isinstance(state, tuple):
        return tuple(detach_state(s) for s in state)
    return state


class ClassificationTask:
    """Classification of sequences by the maximum over time of a ``SpikingClassifier`` readout.

    Data: either a re-iterable of batches ``(x, y)`` with x (T, B, C) float (dense or sparse)
    and y (B,) long, e.g. a ``DataLoader``, or a callable ``epoch -> iterator of batches`` (the
    way to get a seeded, per-epoch shuffling that a resumed run reproduces exactly; ``evaluate``
    calls it with epoch 0). A DataLoader shuffling with torch's global generator also resumes
    exactly, because checkpoints hold the RNG state.

    loss = mean_b CE(max_t y_t[b], label[b]); ``evaluate`` -> {"score", "accuracy", "loss"}.
    """

    kind = "classification"

    def batches(self, data, epoch: int, device) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches of epoch ``epoch`` moved to ``device``, checked for shape and type."""
        iterable = data(epoch) if callable(data) else data
        if not isinstance(iterable, Iterable):
            raise ValueError(
                "classification data must be an iterable of (x, y) batches or a callable "
                f"epoch -> iterator, got {type(data).__name__}"
            )
        for batch in iterable:
            yield self._check_batch(batch, device)

    @staticmethod
    def _check_batch(batch, device) -> tuple[Tensor, Tensor]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("each classification batch must be a pair (x, y)")
        x, y = batch
        if not isinstance(x, Tensor) or x.dim() != 3:
            raise ValueError(
                f"classification input x must be a (T, B, C) tensor, got shape "
                f"{tuple(getattr(x, 'shape', ()))}"
            )
        y = torch.as_tensor(y)
        if y.dim() != 1 or y.shape[0] != x.shape[1]:
            raise ValueError(
                f"labels y must have shape (B,) = ({x.shape[1]},) to match x (T, B, C), "
                f"got {tuple(y.shape)}"
            )
        if y.dtype.is_floating_point or y.dtype == torch.bool:
            raise ValueError(f"labels y must be integer class indices, got dtype {y.dtype}")
        x = x.to(device)
        if x.is_sparse:
            x = x.to_dense()
        if not x.is_floating_point():
            x = x.float()
        return x, y.to(device=device, dtype=torch.long)

    @staticmethod
    def _check_labels(model: SpikingClassifier, y: Tensor) -> None:
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= model.n_out):
            raise ValueError(
                f"labels must lie in [0, {model.n_out - 1}] for a readout of {model.n_out} "
                f"units, got [{int(y.min())}, {int(y.max())}]"
            )

    @staticmethod
    def logits(readout: Tensor) -> Tensor:
        """Max over time (T, B, O) -> (B, O); gradient to the first maximum (as e-prop)."""
        return readout.max(dim=0).values

    def _stats(self, loss: Tensor, logits: Tensor, y: Tensor) -> dict:
        n = y.shape[0]
        correct = int((logits.argmax(dim=1) == y).sum())
        return {"loss_sum": float(loss.detach()) * n, "correct": correct, "n": n}

    def bptt_loss(self, model, batch) -> tuple[Tensor, dict]:
        """Full-BPTT loss of one batch (to call .backward() on) and its statistics."""
        x, y = batch
        self._check_labels(model, y)
        readout, _ = model(x)
        logits = self.logits(readout)
        loss = F.cross_entropy(logits, y)
        return loss, self._stats(loss, logits, y)

    def tbptt_backward(self, model, batch, window: int) -> dict:
        """Truncated BPTT: windows of ``window`` steps, the state carried and detached between
        windows, one backward of the max-over-time loss (gradients stop at window borders)."""
        x, y = batch
        self._check_labels(model, y)
        state = None
        outputs = []
        for start in range(0, x.shape[0], window):
            if state is None:
                state = model.initial_state(x.shape[1], device=x.device, dtype=model.w_in.dtype)
            readout, _, state = model(x[start : start + window], state=state, return_state=True)
            outputs.append(readout)
            state = detach_state(state)
        logits = self.logits(torch.cat(outputs))
        loss = F.cross_entropy(logits, y)
        loss.backward()
        return self._stats(loss, logits, y)

    def eprop_backward(self, model, batch, feedback: Tensor | None) -> dict:
        """E-prop gradients (``eprop.eprop_classifier_gradients``) of one batch."""
        x, y = batch
        self._check_labels(model, y)
        if not isinstance(model, SpikingClassifier):
            raise ValueError(f"e-prop classification needs a SpikingClassifier, got {type(model)}")
        loss, logits = eprop.eprop_classifier_gradients(model, x, y, feedback)
        return self._stats(loss, logits, y)

    def summarize(self, stats: list[dict]) -> dict:
        """Epoch metrics from per-batch statistics: loss, score (= accuracy), accuracy."""
        n = sum(s["n"] for s in stats)
        if n == 0:
            raise ValueError("the classification data yielded no samples")
        accuracy = sum(s["correct"] for s in stats) / n
        return {"loss": sum(s["loss_sum"] for s in stats) / n, "score": accuracy,
                "accuracy": accuracy}  # fmt: skip

    @torch.no_grad()
    def evaluate(self, model, data, device=None) -> dict:
        """{"score": accuracy, "accuracy", "loss"} of ``model`` on ``data`` (no gradients)."""
        device = next(model.parameters()).device if device is None else device
        was_training = model.training
        model.eval()
        stats = []
        for x, y in self.batches(data, 0, device):
            self._check_labels(model, y)
            readout, _ = model(x)
            logits = self.logits(readout)
            stats.append(self._stats(F.cross_entropy(logits, y), logits, y))
        model.train(was_training)
        return self.summarize(stats)


def check_activity_model(model, task: str) -> None:
    """A clear error unless ``model`` is an activity network (the fit tasks train only those)."""
    if not isinstance(model, (RateActivityNetwork, SpikingActivityNetwork)):
        raise ValueError(
            f"{task} needs a RateActivityNetwork or SpikingActivityNetwork, got "
            f"{type(model).__name__}"
        )


class SequenceFitTask:
    """Fit a recording (T, N) in [0, 1] by an autonomous rollout from its first frame.

    The model (``RateActivityNetwork`` or ``SpikingActivityNetwork``) is rolled out for T steps
    from target[0] (output[0] = target[0]); the loss is the MSE over the predicted frames,
    weighted per frame: sum_t w_t sum_n (y_t - x_t)^2 / (N sum_t w_t).

    Args:
        step_weights: (T,) non-negative weights per frame, or None for 0 at frame 0 (it is
            given, not predicted) and 1 elsewhere.
        validation_frames: the last this many frames of the target are a validation block:
            the rollout runs through them but they get weight 0 in the loss (no gradient from
            them), and ``evaluate`` scores them (a forecast from the fit block), so the
            training loop keeps the iteration that forecasts them best. 0: no validation
            block, ``evaluate`` scores the predicted frames 1..T-1.

    Data: the target tensor (T, N) itself (numpy or torch), for training and validation. One
    training epoch is one rollout and one update; the training score (``pvar``) is the
    rollout's pVar on the fit block's predicted frames.
    ``evaluate`` -> {"score": pVar, "pvar", "loss" (MSE), "pvar_per_neuron_median"}, on the
    validation block (or frames 1..T-1 without one), plus ``pvar_fit`` with a validation block.
    """

    kind = "sequence_fit"

    def __init__(self, step_weights=None, validation_frames: int = 0):
        if int(validation_frames) != validation_frames or validation_frames < 0:
            raise ValueError(f"validation_frames must be an integer >= 0, got {validation_frames}")
        self.validation_frames = int(validation_frames)
        if step_weights is not None:
            step_weights = torch.as_tensor(np.asarray(step_weights), dtype=torch.float64)
            if step_weights.dim() != 1:
                raise ValueError(f"step_weights must be 1-D (T,), got {tuple(step_weights.shape)}")
            if bool((step_weights < 0).any()) or not bool(torch.isfinite(step_weights).all()):
                raise ValueError("step_weights must be finite and non-negative")
            if not float(step_weights.sum()) > 0:
                raise ValueError("step_weights must not all be zero")
        self.step_weights = step_weights

    @staticmethod
    def check_target(target, device=None, dtype=torch.float32) -> Tensor:
        """The recording as a (T, N) tensor on ``device``; clear errors for bad input."""
        if isinstance(target, np.ndarray):
            target = torch.from_numpy(target)
        if not isinstance(target, Tensor):
            raise ValueError(f"target must be a (T, N) array or tensor, got {type(target)}")
        if target.dim() != 2:
            raise ValueError(f"target must have shape (T, N), got {tuple(target.shape)}")
        if target.shape[0] < 2 or target.shape[1] < 1:
            raise ValueError(
                f"target needs T >= 2 frames and N >= 1 neurons, got {tuple(target.shape)}"
            )
        if not bool(torch.isfinite(target).all()):
            raise ValueError("target contains NaN or infinite values")
        if bool((target < 0).any()) or bool((target > 1).any()):
            raise ValueError(
                "target must be activity normalised to [0, 1], got values in "
                f"[{float(target.min()):.4g}, {float(target.max()):.4g}]"
            )
        return target.to(device=device, dtype=dtype)

    def fit_frames(self, steps: int) -> int:
        """Frames of the fit block (the first ones; the validation block follows)."""
        n_fit = steps - self.validation_frames
        if n_fit < 2:
            raise ValueError(
                f"a target of {steps} frames leaves {n_fit} for fitting after the "
                f"{self.validation_frames}-frame validation block; at least 2 are needed"
            )
        return n_fit

    def weights(self, steps: int, like: Tensor) -> Tensor:
        """(T,) per-frame loss weights on ``like``'s device and dtype (0 on frame 0 and on the
        validation block)."""
        if self.step_weights is None:
            weights = torch.ones(steps, dtype=like.dtype, device=like.device)
            weights[0] = 0.0
            weights[self.fit_frames(steps) :] = 0.0
            return weights
        if self.step_weights.shape[0] != steps:
            raise ValueError(
                f"step_weights has {self.step_weights.shape[0]} entries for a target of "
                f"{steps} frames"
            )
        return self.step_weights.to(device=like.device, dtype=like.dtype)

    def _loss(self, prediction: Tensor, target: Tensor, weights: Tensor) -> Tensor:
        per_frame = (prediction - target).square().sum(dim=-1)
        return (weights * per_frame).sum() / (target.shape[1] * weights.sum())

    def batches(self, data, epoch: int, device) -> Iterator[Tensor]:
        """One batch per epoch: the whole recording."""
        yield self.check_target(data, device, self._dtype)

    _dtype = torch.float32

    def prepare(self, model) -> None:
        """Match the target's dtype to the model's (e.g. float64 models in tests)."""
        self._dtype = next(model.parameters()).dtype

    @staticmethod
    def _check_model(model) -> None:
        check_activity_model(model, "SequenceFitTask")

    def _stats(self, loss: Tensor, prediction: Tensor, target: Tensor) -> dict:
        n_fit = self.fit_frames(target.shape[0])
        return {
            "loss": float(loss.detach()),
            "pvar": pvar(prediction[1:n_fit].detach().cpu().numpy(), target[1:n_fit].cpu().numpy()),
        }

    def bptt_loss(self, model, target: Tensor) -> tuple[Tensor, dict]:
        """Full-BPTT loss of the rollout (to call .backward() on) and its statistics."""
        self._check_model(model)
        prediction = model(target[0:1], target.shape[0])[:, 0]
        loss = self._loss(prediction, target, self.weights(target.shape[0], target))
        return loss, self._stats(loss, prediction, target)

    def tbptt_backward(self, model, target: Tensor, window: int) -> dict:
        """Truncated BPTT: the rollout in windows of ``window`` steps, backward per window
        (memory O(window)), the state carried and detached between windows."""
        self._check_model(model)
        steps = target.shape[0]
        weights = self.weights(steps, target)
        denominator = target.shape[1] * weights.sum()
        state = model.initial_state(target[0:1])
        pieces = [target[0:1]]
        total = 0.0
        for start in range(1, steps, window):
            n = min(window, steps - start)
            outputs, state = model.rollout(state, n)
            prediction = outputs[:, 0]
            per_frame = (prediction - target[start : start + n]).square().sum(dim=-1)
            loss = (weights[start : start + n] * per_frame).sum() / denominator
            loss.backward()
            total += float(loss.detach())
            pieces.append(prediction.detach())
            state = detach_state(state)
        prediction = torch.cat(pieces)
        return {"loss": total, "pvar": self._stats(torch.zeros(()), prediction, target)["pvar"]}

    def eprop_backward(self, model, target: Tensor, feedback=None) -> dict:
        """E-prop gradients of the rollout loss (the fed-back output treated as input)."""
        self._check_model(model)
        weights = self.weights(target.shape[0], target)
        if isinstance(model, RateActivityNetwork):
            loss, prediction = eprop.eprop_rate_gradients(model, target, weights)
        else:
            loss, prediction = eprop.eprop_spiking_activity_gradients(
                model, target, weights, feedback
            )
        return self._stats(loss, prediction, target)

    def force_pass(self, model, target: Tensor, rls) -> dict:
        """FORCE: score the rollout of the current weights (as ``bptt_loss`` does, so a
        history row scores the weights before its update), then one recursive-least-squares
        pass over the fit block (``force.force_pass``; ``rls``: the loop's
        ``force.RecursiveLeastSquares``). The validation block is never seen."""
        self._check_model(model)
        if self.step_weights is not None:
            raise ValueError("FORCE fits every frame of the fit block alike: no step_weights")
        steps = target.shape[0]
        with torch.no_grad():
            prediction = model(target[0:1], steps)[:, 0]
            loss = self._loss(prediction, target, self.weights(steps, target))
        force.force_pass(model, target[: self.fit_frames(steps)], rls)
        return self._stats(loss, prediction, target)

    def summarize(self, stats: list[dict]) -> dict:
        """Epoch metrics (one rollout per epoch): loss, score (= pVar), pvar."""
        last = stats[-1]
        return {"loss": last["loss"], "score": last["pvar"], "pvar": last["pvar"]}

    @torch.no_grad()
    def predict(self, model, target) -> Tensor:
        """The rollout (T, N) of ``model`` from target[0] (output[0] = target[0])."""
        self._check_model(model)
        reference = next(model.parameters())
        target = self.check_target(target, reference.device, reference.dtype)
        return model(target[0:1], target.shape[0])[:, 0]

    @torch.no_grad()
    def evaluate(self, model, data, device=None) -> dict:
        """{"score": pVar, "pvar", "loss", "pvar_per_neuron_median"} on frames 1..T-1."""
        reference = next(model.parameters())
        target = self.check_target(data, reference.device, reference.dtype)
        prediction = self.predict(model, target).cpu().numpy().astype(np.float64)
        target = target.cpu().numpy().astype(np.float64)
        n_fit = self.fit_frames(target.shape[0])
        start = n_fit if self.validation_frames else 1
        p, t = prediction[start:], target[start:]
        score = pvar(p, t)
        per_neuron = pvar_per_neuron(p, t)
        median = float(np.nanmedian(per_neuron)) if np.isfinite(per_neuron).any() else float("nan")
        result = {"score": score, "pvar": score, "loss": float(np.mean((p - t) ** 2)),
                  "pvar_per_neuron_median": median}  # fmt: skip
        if self.validation_frames:
            result["pvar_fit"] = pvar(prediction[1:n_fit], target[1:n_fit])
        return result


TaskData = Iterable | Callable[[int], Iterator] | Tensor | np.ndarray
