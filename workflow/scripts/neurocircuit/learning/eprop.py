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

The spiking dynamics run through the models' own step functions (``neurons.lif_syn_step``,
``lif_step``, ``alif_step``, ``leaky_readout_step``, ``lowpass_step``), with
``return_distance=True`` and ``neurons.pseudo_derivative`` for the surrogate's dz/dv~: e-prop
follows exactly the dynamics BPTT differentiates, written once.

Each function computes gradients with respect to the effective tensors the dynamics use and
maps them onto the model's parameters through autograd (Dale's parametrization, masks, softplus
parametrizations), so ``param.grad`` is set exactly as ``loss.backward()`` would set it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from neurocircuit.models import neurons as nrn
from neurocircuit.models.activity import RateActivityNetwork, SpikingActivityNetwork
from neurocircuit.models.classifier import SpikingClassifier


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


def _add_trace_gradients(
    grads: dict[str, Tensor], signal: Tensor, weight_trace: Tensor, **unit_traces: Tensor
) -> None:
    """Add one step's e-prop gradients to ``grads``: the learning signal (1, N) times the
    eligibility traces of W ("weight", (1, N, N)) and of the per-unit parameters, each given
    by its name in ``grads`` ((1, N) each)."""
    grads["weight"].add_(torch.einsum("bj,bji->ji", signal, weight_trace))
    for name, trace in unit_traces.items():
        grads[name].add_((signal * trace).sum(0))


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


def _readout_maxima(model: SpikingClassifier, x: Tensor, w: dict) -> tuple[Tensor, Tensor]:
    """max_t y (B, O) and its time step t* (B, O): the first e-prop pass."""
    y_max = t_star = None
    for t, step in enumerate(_classifier_steps(model, x, w)):
        if y_max is None:
            y_max = torch.full_like(step.y, float("-inf"))
            t_star = torch.zeros(step.y.shape, dtype=torch.long, device=x.device)
        better = step.y > y_max
        y_max = torch.where(better, step.y, y_max)
        t_star = torch.where(better, torch.full_like(t_star, t), t_star)
    return y_max, t_star


def _classifier_eprop_pass(
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


def eprop_classifier_gradients(
    model: SpikingClassifier, x: Tensor, labels: Tensor, feedback: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """E-prop gradients of the max-over-time cross-entropy (batch mean) of a ``SpikingClassifier``.

    Args:
        model: the classifier (any neuron type, recurrent or not, Dale or not; the "default"
            discretisation). Under Dale's law the gradients of the effective W_in (>= 0) and V
            are mapped onto the parameters through the parametrizations by autograd.
        x: (T, B, n_in) input; labels: (B,) class indices.
        feedback: (n_out, n_hidden) fixed random feedback matrix, or None for symmetric
            feedback (the readout weights themselves).
    Returns:
        (loss (scalar), logits = max_t y (B, n_out)), both detached; the gradients are added
        to the parameters' ``.grad``.
    """
    if model.discretisation != "default":
        raise ValueError(
            f"e-prop follows the 'default' discretisation of the classifier, got "
            f"{model.discretisation!r} (train it with bptt or tbptt)"
        )
    if x.is_sparse:
        x = x.to_dense()
    effective = model.effective_weights()
    x = x.to(effective["w_in"].dtype)
    detached = {k: (None if v is None else v.detach()) for k, v in effective.items()}
    with torch.no_grad():
        logits, t_star = _readout_maxima(model, x, detached)
        loss = F.cross_entropy(logits, labels)
        g = torch.softmax(logits, dim=1) - F.one_hot(labels, model.n_out).to(logits.dtype)
        g = g / logits.shape[0]
        matrix = detached["w_out"] if feedback is None else feedback.to(logits.dtype)
        grads = _classifier_eprop_pass(model, x, detached, g, t_star, matrix)
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

    Both Wilson–Cowan forms (``RateActivityNetwork.wilson_cowan``); the neurotorch form's
    transition term (1 - c r) (c: its transition rate) depends on the unit's own rate r, so it is
    part of the leak the traces follow (``_eprop_neurotorch_rate_gradients``).

    Returns (loss, rollout (T, N)), detached; gradients are added to ``.grad``.
    """
    if model.wilson_cowan == "neurotorch":
        return _eprop_neurotorch_rate_gradients(model, target, step_weights)
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
            _add_trace_gradients(
                grads, signal, eps_w, gain=eps_gain, threshold=eps_theta, decay=eps_decay
            )
            outputs.append(r[0])
    names = list(effective)
    _apply_gradients([effective[k] for k in names], [grads[k] for k in names])
    return loss, torch.stack(outputs)


def _eprop_neurotorch_rate_gradients(
    model: RateActivityNetwork, target: Tensor, step_weights: Tensor
) -> tuple[Tensor, Tensor]:
    """``eprop_rate_gradients`` for the neurotorch form,
    r_t = (1 - h) r_{t-1} + h (1 - c r_{t-1}) s_t,  s_t = sigmoid(g u_t - b),  u_t = W r_{t-1}.

    u_t is the fed-back input (not differentiated); each unit's own path is, with
    s'_t = s_t (1 - s_t): dr_t/dr_{t-1} = (1 - h) - h c s_t, and the eligibility traces
    e_t = (dr_t/dr_{t-1}) e_{t-1} + (direct dr_t/dtheta) with the direct terms
    h (1 - c r) s' g r_pre (W), h (1 - c r) s' u (g), -h (1 - c r) s' (b), -r + (1 - c r) s
    (h) and -h r s (c), r meaning r_{t-1}.
    """
    effective = model.effective_parameters()
    p = {k: v.detach() for k, v in effective.items()}
    steps, n = target.shape
    weights = _step_weights(step_weights, steps, target)
    norm = n * weights.sum()
    h, c, gain, theta, w = (
        p["dt_over_tau"], p["transition"], p["gain"], p["threshold"], p["weight"]
    )  # fmt: skip
    with torch.no_grad():
        r = target[0:1].clone()
        eps_w = target.new_zeros(1, n, n)
        eps_gain, eps_theta, eps_h, eps_c = (target.new_zeros(1, n) for _ in range(4))
        grads = {k: torch.zeros_like(v) for k, v in p.items()}
        loss = target.new_zeros(())
        outputs = [r[0]]
        for t in range(1, steps):
            u = r @ w.t()
            s = torch.sigmoid(gain * u - theta)
            gate = 1.0 - c * r
            drive_slope = h * gate * s * (1.0 - s)
            leak = (1.0 - h) - h * c * s
            eps_w.mul_(leak.unsqueeze(-1)).add_((drive_slope * gain).unsqueeze(-1) * r.unsqueeze(1))
            eps_gain.mul_(leak).add_(drive_slope * u)
            eps_theta.mul_(leak).sub_(drive_slope)
            eps_h.mul_(leak).add_(gate * s - r)
            eps_c.mul_(leak).sub_(h * r * s)
            r = (1.0 - h) * r + h * gate * s
            error = r - target[t]
            loss += weights[t] * error.square().sum() / norm
            signal = 2.0 * weights[t] * error / norm
            _add_trace_gradients(grads, signal, eps_w, gain=eps_gain, threshold=eps_theta,
                                 dt_over_tau=eps_h, transition=eps_c)  # fmt: skip
            outputs.append(r[0])
    names = list(effective)
    _apply_gradients([effective[k] for k in names], [grads[k] for k in names])
    return loss, torch.stack(outputs)


class _UnitTraces:
    """Eligibility traces of a ``SpikingActivityNetwork``'s units, for W (pre: the fed-back
    outputs, (1, N)) and the bias current, through current (eps_i), membrane (eps_v, with the
    reset factor 1 - z of the "zero" reset) and the low-pass filter of the spikes (r_w, r_b)."""

    def __init__(self, n: int, model: SpikingActivityNetwork, like: Tensor):
        self.alpha, self.beta, self.kappa = model.alpha, model.beta, model.kappa
        self.substeps = model.steps_per_frame
        self.zero_reset = model.reset == "zero"
        self.i_w = like.new_zeros(1, n)
        self.v_w = like.new_zeros((1, n, n) if self.zero_reset else (1, n))
        self.r_w = like.new_zeros(1, n, n)
        self.i_b, self.v_b, self.r_b = (like.new_zeros(1, n) for _ in range(3))

    def advance(self, x: Tensor, z_previous: Tensor) -> None:
        """Current and membrane traces of a sub-step with input x (1, N) (= y_{t-1} / substeps)
        after spikes ``z_previous`` (1, N)."""
        alpha, beta = self.alpha, self.beta
        self.i_w.mul_(alpha).add_(x)
        self.i_b.mul_(alpha).add_(1.0 / self.substeps)
        if self.zero_reset:
            keep = 1.0 - z_previous
            self.v_w.mul_((beta * keep).unsqueeze(-1)).add_(self.i_w.unsqueeze(1))
            self.v_b.mul_(beta * keep).add_(self.i_b)
        else:
            self.v_w.mul_(beta).add_(self.i_w)
            self.v_b.mul_(beta).add_(self.i_b)

    def filter(self, psi: Tensor) -> None:
        """Low-pass filtered traces of the spikes, given their pseudo-derivative psi (1, N)."""
        kappa = self.kappa
        e_w = psi.unsqueeze(-1) * (self.v_w if self.zero_reset else self.v_w.unsqueeze(1))
        self.r_w.mul_(kappa).add_((1.0 - kappa) * e_w)
        self.r_b.mul_(kappa).add_((1.0 - kappa) * psi * self.v_b)


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
    substeps = model.steps_per_frame
    diagonal = model.readout == "diagonal"
    if not diagonal:
        back = p["readout_weight"] if feedback is None else feedback.to(target.dtype)
    params, lowpass = model.neuron_params(), nrn.LowPassParams(model.kappa)
    with torch.no_grad():
        state = model.initial_state(target[0:1])
        neuron, filtered, y = state
        traces = _UnitTraces(n, model, like=target)
        grads = {k: torch.zeros_like(val) for k, val in p.items()}
        loss = target.new_zeros(())
        outputs = [y[0]]
        for t in range(1, steps):
            x = y / substeps
            current = (model.coupling_input(state, p["weight"]) + p["bias_current"]) / substeps
            for _ in range(substeps):
                traces.advance(x, neuron.z)
                before = neuron
                z, neuron, distance = nrn.lif_syn_step(
                    current, before, params, return_distance=True
                )
                _, filtered = nrn.lowpass_step(z, filtered, lowpass)
                traces.filter(nrn.pseudo_derivative(distance, before.refractory, params))
            y = model.read_out(filtered.r, p)
            state = type(state)(neuron, filtered, y)
            error = y - target[t]
            loss += weights[t] * error.square().sum() / norm
            dy = 2.0 * weights[t] * error / norm * y * (1.0 - y)
            if diagonal:
                signal = dy * p["readout_gain"]
                grads["readout_gain"].add_((dy * filtered.r).sum(0))
            else:
                signal = dy @ back
                grads["readout_weight"].add_(dy.t() @ filtered.r)
            _add_trace_gradients(grads, signal, traces.r_w, bias_current=traces.r_b)
            grads["readout_bias"].add_(dy.sum(0))
            outputs.append(y[0])
    names = list(effective)
    _apply_gradients([effective[k] for k in names], [grads[k] for k in names])
    return loss, torch.stack(outputs)
