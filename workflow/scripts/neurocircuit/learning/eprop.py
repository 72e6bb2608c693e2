"""E-prop (Bellec et al. 2020, Nat. Commun. 11:3625): online gradients without a backward
pass through time.

dE/dW_ji ~ sum_t L_j^t e_ji^t. The eligibility trace e_ji^t = dz_j^t/dW_ji follows each
neuron's own dynamics forward in time (exact, including the synaptic current, the reset
factor, the threshold adaptation and refractoriness); the learning signal L_j^t is the error
reaching neuron j directly through the readout (symmetric: the readout weights; random: a
fixed random matrix). Dependencies through other neurons (recurrent spikes, or the fed-back
output of the activity networks) are treated as inputs and not differentiated. With no
recurrence and symmetric feedback the result equals BPTT's gradient.

Memory is independent of the sequence length T: only traces of shape (B, post, pre) (or
(B, pre) where they factorise) are kept, never the history.

Losses:
- classifier, cross-entropy of the max over time of the leaky readout: the error reaches the
  readout only at the time t*_c of each class's maximum, known after a first forward pass
  (no storage); a second forward pass then computes traces and gradients. The readout's leak is
  folded into the learning signal in closed form,
  L_j^t = sum_c B_cj g_c kappa^(t*_c - t) [t <= t*_c],  g_c = dE/d(max_t y_c).
- activity networks, per-step MSE against a recording: the error of step t is known at step t,
  one pass. The readout of ``SpikingActivityNetwork`` (low-pass filter, sigmoid) is per unit,
  so it is part of the unit's eligibility and its learning signal is exact.

Each function computes gradients with respect to the effective tensors the dynamics use and
maps them onto the model's parameters through autograd (Dale's parametrization, masks, softplus
parametrizations), so ``param.grad`` is set exactly as ``loss.backward()`` would set it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from neurocircuit.models.activity import RateActivityNetwork, SpikingActivityNetwork
from neurocircuit.models.classifier import SpikingClassifier
from neurocircuit.models.surrogates import surrogate_derivative


def random_feedback(model, seed: int) -> Tensor | None:
    """Fixed random feedback matrix for e-prop's learning signals, drawn from ``seed``.

    ``SpikingClassifier``: (n_out, n_hidden), std readout_scale / sqrt(n_hidden) (the initial
    readout's). ``SpikingActivityNetwork`` with the full readout: (N, N), std
    readout_gain / sqrt(N). None for the networks whose units are their own outputs (rate
    network, diagonal readout): their learning signal is exact.
    """
    generator = torch.Generator().manual_seed(int(seed) + 104729)
    if isinstance(model, SpikingClassifier):
        shape = (model.n_out, model.n_hidden)
        std = model.init_kwargs["readout_scale"] / model.n_hidden**0.5
    elif isinstance(model, SpikingActivityNetwork) and model.readout == "full":
        shape = (model.n_units, model.n_units)
        std = model.init_kwargs["readout_gain"] / model.n_units**0.5
    else:
        return None
    reference = next(model.parameters())
    weight = torch.randn(*shape, generator=generator) * std
    return weight.to(device=reference.device, dtype=reference.dtype)


def _apply_gradients(tensors: list[Tensor], grads: list[Tensor]) -> None:
    """Accumulate ``grads`` of the effective ``tensors`` into the leaf parameters' .grad."""
    pairs = [
        (t, g) for t, g in zip(tensors, grads, strict=True) if t is not None and t.requires_grad
    ]
    if pairs:
        torch.autograd.backward([t for t, _ in pairs], [g for _, g in pairs])


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


def _classifier_pass(model: SpikingClassifier, x: Tensor, w: dict, learning: dict | None):
    """One forward pass of the classifier's dynamics without autograd.

    Without ``learning``: returns (max_t y (B, O), argmax t* (B, O)). With ``learning`` (g,
    t_star, feedback): accumulates e-prop gradients and returns them as a dict."""
    steps, batch, _ = x.shape
    n_hidden, n_out = model.n_hidden, model.n_out
    neuron = model.neuron
    synaptic, adaptive = neuron == "lif_syn", neuron == "alif"
    alpha, beta, rho, kappa = model.alpha, model.beta, model.rho, model.kappa
    theta, beta_a = model.threshold, model.adapt_strength
    zero_reset = model.reset == "zero"
    w_in, w_rec, w_out, b_out = w["w_in"], w["w_rec"], w["w_out"], w["b_out"]
    v = x.new_zeros(batch, n_hidden)
    i = v.clone()
    a = v.clone()
    z = v.clone()
    refractory = v.clone()
    y = x.new_zeros(batch, n_out)
    y_max = torch.full_like(y, float("-inf"))
    t_star = torch.zeros(batch, n_out, dtype=torch.long, device=x.device)
    if learning is not None:
        options = dict(synaptic=synaptic, zero_reset=zero_reset, adaptive=adaptive, like=x)
        sources = {"w_in": _SourceTraces(batch, n_hidden, model.n_in, **options)}
        if w_rec is not None:
            sources["w_rec"] = _SourceTraces(batch, n_hidden, n_hidden, **options)
        grad_out = torch.zeros_like(w_out)
        grad_b = torch.zeros_like(b_out)
        g, t_star_known, feedback = learning["g"], learning["t_star"], learning["feedback"]
    for t, x_t in enumerate(x.unbind(0)):
        z_previous = z
        if learning is not None:
            keep = (1.0 - z_previous) if zero_reset else None
            sources["w_in"].advance(x_t, alpha, beta, rho, keep)
            if w_rec is not None:
                sources["w_rec"].advance(z_previous, alpha, beta, rho, keep)
        drive = F.linear(x_t, w_in)
        if w_rec is not None:
            drive = drive + z_previous @ w_rec.t()
        if synaptic:
            i = alpha * i + drive
            v_tilde = beta * v + i
        else:
            v_tilde = beta * v + drive
        threshold = theta
        if adaptive:
            a = rho * a + z_previous
            threshold = theta + beta_a * a
        distance = v_tilde - threshold
        z = (distance > 0).to(x.dtype)
        free = None
        if model.refractory_steps > 0:
            free = (refractory <= 0).to(x.dtype)
            z = z * free
            refractory = torch.where(
                z > 0,
                torch.full_like(refractory, float(model.refractory_steps)),
                (refractory - 1.0).clamp(min=0.0),
            )
        v = v_tilde * (1.0 - z) if zero_reset else v_tilde - theta * z
        y = kappa * y + F.linear(z, w_out, b_out)
        if learning is None:
            better = y > y_max
            y_max = torch.where(better, y, y_max)
            t_star = torch.where(better, torch.full_like(t_star, t), t_star)
            continue
        psi = surrogate_derivative(distance, model.surrogate, model.surrogate_scale, theta)
        if free is not None:
            psi = psi * free
        lag = t_star_known - t
        coef = torch.where(lag >= 0, g * kappa ** lag.clamp(min=0).to(x.dtype), 0.0)
        signal = coef @ feedback  # (B, H)
        for source in sources.values():
            source.accumulate(psi, signal, beta_a)
            source.after_spikes(z)
        grad_out.add_(coef.t() @ z)
        grad_b.add_(coef.sum(0))
    if learning is None:
        return y_max, t_star
    grads = {name: source.finish() for name, source in sources.items()}
    grads["w_out"], grads["b_out"] = grad_out, grad_b
    return grads


def eprop_classifier_gradients(
    model: SpikingClassifier, x: Tensor, labels: Tensor, feedback: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """E-prop gradients of the max-over-time cross-entropy (batch mean) of a ``SpikingClassifier``.

    Args:
        model: the classifier (any neuron type, recurrent or not, Dale or not).
        x: (T, B, n_in) input; labels: (B,) class indices.
        feedback: (n_out, n_hidden) fixed random feedback matrix, or None for symmetric
            feedback (the readout weights themselves).
    Returns:
        (loss (scalar), logits = max_t y (B, n_out)), both detached; the gradients are added
        to the parameters' ``.grad``.
    """
    if x.is_sparse:
        x = x.to_dense()
    effective = model.effective_weights()
    x = x.to(effective["w_in"].dtype)
    detached = {k: (None if v is None else v.detach()) for k, v in effective.items()}
    with torch.no_grad():
        logits, t_star = _classifier_pass(model, x, detached, None)
        loss = F.cross_entropy(logits, labels)
        g = torch.softmax(logits, dim=1) - F.one_hot(labels, model.n_out).to(logits.dtype)
        g = g / logits.shape[0]
        matrix = detached["w_out"] if feedback is None else feedback.to(logits.dtype)
        learning = {"g": g, "t_star": t_star, "feedback": matrix}
        grads = _classifier_pass(model, x, detached, learning)
    names = [name for name in ("w_in", "w_rec", "w_out", "b_out") if effective[name] is not None]
    _apply_gradients([effective[n] for n in names], [grads[n] for n in names])
    return loss.detach(), logits.detach()


def _step_weights(weights: Tensor, steps: int, like: Tensor) -> Tensor:
    weights = weights.to(device=like.device, dtype=like.dtype)
    if weights.shape != (steps,):
        raise ValueError(f"step weights must have shape ({steps},), got {tuple(weights.shape)}")
    return weights


def eprop_rate_gradients(
    model: RateActivityNetwork, target: Tensor, step_weights: Tensor
) -> tuple[Tensor, Tensor]:
    """E-prop gradients of the weighted MSE of a Wilson–Cowan rollout against ``target``.

    The network is rolled out from target[0] (T, N -> one sequence); the loss is
    sum_t w_t sum_n (r_t - target_t)^2 / (N sum_t w_t). The fed-back rates enter the recurrent
    drive as inputs; each unit's own leak is followed exactly by its eligibility traces (for
    W, the time constant, the gain and the threshold).

    Returns (loss, rollout (T, N)), detached; gradients are added to ``.grad``.
    """
    effective = model.effective_parameters()
    p = {k: v.detach() for k, v in effective.items()}
    steps, n = target.shape
    weights = _step_weights(step_weights, steps, target)
    norm = n * weights.sum()
    d, gain, theta, w = p["decay"], p["gain"], p["threshold"], p["weight"]
    with torch.no_grad():
        r = target[0:1].clone()
        eps_w = target.new_zeros(1, n, n)
        eps_gain, eps_theta, eps_decay = (target.new_zeros(1, n) for _ in range(3))
        grads = {k: torch.zeros_like(v) for k, v in p.items()}
        loss = target.new_zeros(())
        outputs = [r[0]]
        for t in range(1, steps):
            x = r
            u = x @ w.t()
            s = torch.sigmoid(gain * u - theta)
            ds = s * (1.0 - s)
            drive_slope = (1.0 - d) * ds
            eps_w.mul_(d.unsqueeze(-1)).add_((drive_slope * gain).unsqueeze(-1) * x.unsqueeze(1))
            eps_gain.mul_(d).add_(drive_slope * u)
            eps_theta.mul_(d).sub_(drive_slope)
            eps_decay.mul_(d).add_(r - s)
            r = d * r + (1.0 - d) * s
            error = r - target[t]
            loss += weights[t] * error.square().sum() / norm
            signal = 2.0 * weights[t] * error / norm
            grads["weight"].add_(torch.einsum("bj,bji->ji", signal, eps_w))
            grads["gain"].add_((signal * eps_gain).sum(0))
            grads["threshold"].add_((signal * eps_theta).sum(0))
            grads["decay"].add_((signal * eps_decay).sum(0))
            outputs.append(r[0])
    names = list(effective)
    _apply_gradients([effective[k] for k in names], [grads[k] for k in names])
    return loss, torch.stack(outputs)


def eprop_spiking_activity_gradients(
    model: SpikingActivityNetwork,
    target: Tensor,
    step_weights: Tensor,
    feedback: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """E-prop gradients of the weighted MSE of a ``SpikingActivityNetwork`` rollout.

    Same loss and rollout as ``eprop_rate_gradients``. The fed-back outputs y_{t-1} are the
    presynaptic inputs of W; each unit's synaptic current, membrane (with its reset factor),
    spikes over the frame's sub-steps and low-pass filter are followed exactly by its traces.
    The learning signal of unit j is dE/dr_j through the readout: exact for the diagonal
    readout; for the full readout through W_out (symmetric) or a fixed random ``feedback``
    matrix (N, N). The readout parameters get their exact gradients.

    Returns (loss, rollout (T, N)), detached; gradients are added to ``.grad``.
    """
    effective = model.effective_parameters()
    p = {k: v.detach() for k, v in effective.items()}
    steps, n = target.shape
    weights = _step_weights(step_weights, steps, target)
    norm = n * weights.sum()
    alpha, beta, kappa, theta = model.alpha, model.beta, model.kappa, model.threshold
    substeps = model.steps_per_frame
    zero_reset = model.reset == "zero"
    diagonal = model.readout == "diagonal"
    w, bias = p["weight"], p["bias_current"]
    if not diagonal:
        back = p["readout_weight"] if feedback is None else feedback.to(target.dtype)
    with torch.no_grad():
        state = model.initial_state(target[0:1])
        v, i, r, y = state.neuron.v, state.neuron.i, state.lowpass.r, state.output
        z = torch.zeros_like(v)
        eps_i_w = target.new_zeros(1, n)
        eps_v_w = target.new_zeros((1, n, n) if zero_reset else (1, n))
        eps_r_w = target.new_zeros(1, n, n)
        eps_i_b, eps_v_b, eps_r_b = (target.new_zeros(1, n) for _ in range(3))
        grads = {k: torch.zeros_like(val) for k, val in p.items()}
        loss = target.new_zeros(())
        outputs = [y[0]]
        for t in range(1, steps):
            x = y / substeps
            current = F.linear(y, w, bias) / substeps
            for _ in range(substeps):
                keep = (1.0 - z) if zero_reset else None
                eps_i_w.mul_(alpha).add_(x)
                eps_i_b.mul_(alpha).add_(1.0 / substeps)
                if zero_reset:
                    eps_v_w.mul_((beta * keep).unsqueeze(-1)).add_(eps_i_w.unsqueeze(1))
                    eps_v_b.mul_(beta * keep).add_(eps_i_b)
                else:
                    eps_v_w.mul_(beta).add_(eps_i_w)
                    eps_v_b.mul_(beta).add_(eps_i_b)
                i = alpha * i + current
                v_tilde = beta * v + i
                distance = v_tilde - theta
                z = (distance > 0).to(target.dtype)
                v = v_tilde * (1.0 - z) if zero_reset else v_tilde - theta * z
                r = kappa * r + (1.0 - kappa) * z
                psi = surrogate_derivative(distance, model.surrogate, model.surrogate_scale, theta)
                e_w = psi.unsqueeze(-1) * (eps_v_w if zero_reset else eps_v_w.unsqueeze(1))
                eps_r_w.mul_(kappa).add_((1.0 - kappa) * e_w)
                eps_r_b.mul_(kappa).add_((1.0 - kappa) * psi * eps_v_b)
            y = model.read_out(r, p)
            error = y - target[t]
            loss += weights[t] * error.square().sum() / norm
            dy = 2.0 * weights[t] * error / norm * y * (1.0 - y)
            if diagonal:
                signal = dy * p["readout_gain"]
                grads["readout_gain"].add_((dy * r).sum(0))
            else:
                signal = dy @ back
                grads["readout_weight"].add_(dy.t() @ r)
            grads["weight"].add_(torch.einsum("bj,bji->ji", signal, eps_r_w))
            grads["bias_current"].add_((signal * eps_r_b).sum(0))
            grads["readout_bias"].add_(dy.sum(0))
            outputs.append(y[0])
    names = list(effective)
    _apply_gradients([effective[k] for k in names], [grads[k] for k in names])
    return loss, torch.stack(outputs)
