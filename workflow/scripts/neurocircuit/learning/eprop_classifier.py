"""E-prop's eligibility traces for ``SpikingClassifier`` (``learning.eprop``'s
``eprop_classifier_gradients``): its two passes over the classifier's own step functions.

The first pass finds max_t y and its time t* per class; the second follows each hidden
neuron's traces (per presynaptic source: inputs and recurrent spikes) and adds the learning
signal's products with them (the module docstring of ``learning.eprop`` gives the equations).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from neurocircuit.learning import eprop_kernels
from neurocircuit.models import neurons as nrn
from neurocircuit.models.classifier import SpikingClassifier


class _SourceTraces:
    """Eligibility traces for one presynaptic source (input or recurrent spikes) of W (H, P).

    Three exact forms of the same traces:

    - "factorized" (reset "subtract", no adaptation): the membrane trace does not depend on
      the postsynaptic neuron, eps_v = S (B, P) with S_t = beta S_{t-1} + eps_i_t, and
      e_ji = psi_j S_i: one (H, B) x (B, P) product per step.
    - "snapshots" (reset "zero", no adaptation): the reset clears neuron j's trace at each of
      its spikes, so eps_v_j = S_t - beta^(t - tau_j) S_tau_j with tau_j its last spike. The
      first term is the factorized product; the second is accumulated per neuron as a scalar
      and multiplied by the snapshot S_tau_j only when j spikes again (sparse) and at the end.
    - "full" (adaptive threshold): traces (B, H, P) follow eps_v, eps_a of Bellec et al. 2020.
    """

    def __init__(self, batch: int, n_post: int, n_pre: int, *, synaptic: bool, zero_reset: bool,
                 adaptive: bool, like: Tensor):  # fmt: skip
        self.synaptic, self.adaptive = synaptic, adaptive
        self.mode = "full" if adaptive else ("snapshots" if zero_reset else "factorized")
        self.eps_i = like.new_zeros(batch, n_pre) if synaptic else None
        self.grad = like.new_zeros(n_post, n_pre)
        if self.mode == "full":
            self.eps_v = like.new_zeros(batch, n_post, n_pre)
            self.eps_a = like.new_zeros(batch, n_post, n_pre)
            self.e_previous = like.new_zeros(batch, n_post, n_pre)
            return
        self.eps_v = like.new_zeros(batch, n_pre)  # S
        if self.mode == "snapshots":
            self.snapshot = like.new_zeros(batch, n_post, n_pre)  # S at each neuron's last spike
            self.snapshot_decay = like.new_zeros(batch, n_post)  # beta^(t - tau)
            self.pending = like.new_zeros(batch, n_post)  # sum_t c_t beta^(t - tau) since tau

    def advance(self, pre: Tensor, alpha: float, beta: float, rho: float,
                keep: Tensor | None) -> None:  # fmt: skip
        """Traces at step t from presynaptic activity ``pre`` (B, P) entering at t; ``keep``
        (B, H) is the reset factor 1 - z_{t-1} of the "zero" reset (None: 1)."""
        drive = pre
        if self.synaptic:
            self.eps_i.mul_(alpha).add_(pre)
            drive = self.eps_i
        if self.mode != "full":
            self.eps_v.mul_(beta).add_(drive)
            if self.mode == "snapshots":
                self.snapshot_decay.mul_(beta)
            return
        decay = beta if keep is None else (beta * keep).unsqueeze(-1)
        self.eps_v.mul_(decay).add_(drive.unsqueeze(1))
        self.eps_a.mul_(rho).add_(self.e_previous)

    def accumulate(self, psi: Tensor, signal: Tensor, adapt_strength: float) -> None:
        """Add sum_b L_j e_ji at this step; ``psi`` the pseudo-derivative, ``signal`` L (B, H)."""
        if self.mode != "full":
            weight = signal * psi
            self.grad.add_(weight.t() @ self.eps_v)
            if self.mode == "snapshots":
                self.pending.add_(weight * self.snapshot_decay)
            return
        e = psi.unsqueeze(-1) * (self.eps_v - adapt_strength * self.eps_a)
        self.grad.add_(torch.einsum("bh,bhp->hp", signal, e))
        self.e_previous = e

    def after_spikes(self, z: Tensor) -> None:
        """Neurons that spiked at this step restart their trace from the current S."""
        if self.mode != "snapshots":
            return
        b, j = torch.nonzero(z, as_tuple=True)
        if b.numel() == 0:
            return
        rows = self.snapshot[b, j] * self.pending[b, j].unsqueeze(-1)
        self.grad.index_add_(0, j, rows, alpha=-1.0)
        self.snapshot[b, j] = self.eps_v[b]
        self.snapshot_decay[b, j] = 1.0
        self.pending[b, j] = 0.0

    def finish(self) -> Tensor:
        """The accumulated gradient (H, P)."""
        if self.mode == "snapshots":
            self.grad.sub_(torch.einsum("bh,bhp->hp", self.pending, self.snapshot))
            self.pending.zero_()
        return self.grad


class _ClassifierStep(NamedTuple):
    """What one step of the classifier's dynamics gives e-prop (all (B, ·) tensors)."""

    x: Tensor  # input x_t (B, n_in)
    previous: nrn.LIFState | nrn.LIFSynState | nrn.ALIFState  # hidden state at t-1
    z: Tensor  # spikes z_t (B, H)
    distance: Tensor  # v~_t - A_t (B, H), the surrogate's argument
    y: Tensor  # readout y_t (B, O)


def _classifier_steps(model: SpikingClassifier, x: Tensor, w: dict) -> Iterator[_ClassifierStep]:
    """Run the classifier's dynamics (its own step functions, no autograd) over x (T, B, n_in).

    The recurrent spikes enter the step as part of its input drive: e-prop treats them as
    inputs (their dependence on the weights is not differentiated)."""
    params = model.neuron_params(None)
    step = model.step_function()
    neuron, readout = model.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
    readout_params = nrn.LeakyReadoutParams(model.kappa)
    for x_t in x.unbind(0):
        drive = F.linear(x_t, w["w_in"])
        if w["w_rec"] is not None:
            drive = drive + neuron.z @ w["w_rec"].t()
        previous = neuron
        z, neuron, distance = step(drive, neuron, params, return_distance=True)
        y, readout = nrn.leaky_readout_step(
            F.linear(z, w["w_out"], w["b_out"]), readout, readout_params
        )
        yield _ClassifierStep(x_t, previous, z, distance, y)


def _maxima(ys) -> tuple[Tensor, Tensor]:
    """max_t y (B, O) and its first time step t* (B, O) over the readouts ``ys``."""
    y_max = t_star = None
    for t, y in enumerate(ys):
        if y_max is None:
            y_max = torch.full_like(y, float("-inf"))
            t_star = torch.zeros(y.shape, dtype=torch.long, device=y.device)
        better = y > y_max
        y_max = torch.where(better, y, y_max)
        t_star = torch.where(better, torch.full_like(t_star, t), t_star)
    return y_max, t_star


def readout_maxima(model: SpikingClassifier, x: Tensor, w: dict) -> tuple[Tensor, Tensor]:
    """max_t y (B, O) and its time step t* (B, O): the first e-prop pass."""
    return _maxima(step.y for step in _classifier_steps(model, x, w))


def classifier_eprop_pass(
    model: SpikingClassifier, x: Tensor, w: dict, g: Tensor, t_star: Tensor, feedback: Tensor
) -> dict[str, Tensor]:
    """The second e-prop pass: eligibility traces and gradients of w_in, w_rec, w_out, b_out.

    g (B, O): dE/d(max_t y); t_star (B, O): the time of each maximum; feedback (O, H): the
    matrix that carries the readout error back to the hidden neurons."""
    batch, n_hidden = x.shape[1], model.n_hidden
    zero_reset = model.reset == "zero"
    options = dict(synaptic=model.neuron == "lif_syn", zero_reset=zero_reset,
                   adaptive=model.neuron == "alif", like=x)  # fmt: skip
    sources = {"w_in": _SourceTraces(batch, n_hidden, model.n_in, **options)}
    if w["w_rec"] is not None:
        sources["w_rec"] = _SourceTraces(batch, n_hidden, n_hidden, **options)
    grad_out, grad_b = torch.zeros_like(w["w_out"]), torch.zeros_like(w["b_out"])
    params = model.neuron_params(None)
    decays = (model.alpha, model.beta, model.rho)
    for t, step in enumerate(_classifier_steps(model, x, w)):
        z_previous = step.previous.z
        keep = (1.0 - z_previous) if zero_reset else None
        sources["w_in"].advance(step.x, *decays, keep)
        if "w_rec" in sources:
            sources["w_rec"].advance(z_previous, *decays, keep)
        psi = nrn.pseudo_derivative(step.distance, step.previous.refractory, params)
        lag = t_star - t
        coef = torch.where(lag >= 0, g * model.kappa ** lag.clamp(min=0).to(x.dtype), 0.0)
        signal = coef @ feedback  # (B, H)
        for source in sources.values():
            source.accumulate(psi, signal, model.adapt_strength)
            source.after_spikes(step.z)
        grad_out.add_(coef.t() @ step.z)
        grad_b.add_(coef.sum(0))
    grads = {name: source.finish() for name, source in sources.items()}
    grads["w_out"], grads["b_out"] = grad_out, grad_b
    return grads


class ClassifierHistory(NamedTuple):
    """One forward pass of the classifier, stacked over time, for the factorised e-prop."""

    z_previous: Tensor  # z_{t-1} (T, B, H), the recurrent input of step t
    psi: Tensor  # pseudo-derivatives (T, B, H)
    z: Tensor  # spikes (T, B, H)
    y: Tensor  # readouts (T, B, O)


def classifier_history(model: SpikingClassifier, x: Tensor, w: dict) -> ClassifierHistory:
    """Run the classifier's dynamics once (``_classifier_steps``) and keep what e-prop needs."""
    params = model.neuron_params(None)
    rows = [
        (step.previous.z, nrn.pseudo_derivative(step.distance, step.previous.refractory, params),
         step.z, step.y)
        for step in _classifier_steps(model, x, w)
    ]  # fmt: skip
    return ClassifierHistory(*(torch.stack(column) for column in zip(*rows, strict=True)))


def history_maxima(history: ClassifierHistory) -> tuple[Tensor, Tensor]:
    """max_t y (B, O) and its time step t* (B, O) from a stored forward pass."""
    return _maxima(history.y.unbind(0))


def factorised_classifier_pass(
    model: SpikingClassifier, x: Tensor, history: ClassifierHistory, g: Tensor, t_star: Tensor,
    feedback: Tensor, recurrent: bool,
) -> dict[str, Tensor]:  # fmt: skip
    """``classifier_eprop_pass`` for neurons without adaptation, compiled (CPU): the same
    gradients from a stored forward pass (``recurrent``: whether there is a w_rec). The traces
    factorise (``eprop_kernels.spiking_input_terms``: each neuron's terms filtered backward
    through the presynaptic filters), so each weight matrix's gradient is one product over
    time and batch, sum_t G_t^T input_t."""
    steps, batch, n_hidden = history.z.shape
    lag = t_star.unsqueeze(0) - torch.arange(steps, device=x.device).view(steps, 1, 1)
    coef = torch.where(lag >= 0, g * model.kappa ** lag.clamp(min=0).to(x.dtype), 0.0)
    signal = (coef @ feedback).reshape(steps, -1)  # (T, B H)
    terms = torch.empty_like(signal)
    eprop_kernels.spiking_input_terms(
        terms.numpy(), history.psi.reshape(steps, -1).numpy(),
        history.z.reshape(steps, -1).numpy(), signal.numpy(), model.alpha, model.beta, 0.0,
        model.reset == "subtract", model.neuron == "lif_syn", 1,
    )  # fmt: skip
    terms = terms.reshape(steps * batch, n_hidden).t()
    grads = {"w_in": terms @ x.reshape(steps * batch, -1)}
    if recurrent:
        grads["w_rec"] = terms @ history.z_previous.reshape(steps * batch, n_hidden)
    coef = coef.reshape(steps * batch, -1)
    grads["w_out"] = coef.t() @ history.z.reshape(steps * batch, n_hidden)
    grads["b_out"] = coef.sum(0)
    return grads
