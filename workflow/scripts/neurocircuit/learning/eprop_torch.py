"""E-prop of the activity networks as torch loops: the reference backend (any device, any
dtype), the traces carried forward in time as ``learning.eprop``'s docstring states them.

Each function takes the detached effective parameters ``p`` (``effective_parameters()``),
the target (T, N), the step weights (T,) and the loss's normaliser N sum_t w_t, runs under
``torch.no_grad()`` and returns (loss, rollout (T, N), gradients of ``p`` by name).
The rate loops write the Wilson–Cowan update inline (the same arithmetic as
``neurons.wilson_cowan_step`` and ``wilson_cowan_neurotorch_step``, checked step for step by
tests/unit/test_eprop_parity.py); the spiking loop calls the models' step functions.
"""

from __future__ import annotations

import torch
from torch import Tensor

from neurocircuit.models import neurons as nrn


def _add_trace_gradients(
    grads: dict[str, Tensor], signal: Tensor, weight_trace: Tensor, **unit_traces: Tensor
) -> None:
    """Add one step's e-prop gradients to ``grads``: the learning signal (1, N) times the
    eligibility traces of W ("weight", (1, N, N)) and of the per-unit parameters, each given
    by its name in ``grads`` ((1, N) each)."""
    grads["weight"].add_(torch.einsum("bj,bji->ji", signal, weight_trace))
    for name, trace in unit_traces.items():
        grads[name].add_((signal * trace).sum(0))


@torch.no_grad()
def rate_default_gradients(p: dict, target: Tensor, weights: Tensor, norm: Tensor):
    """Default Wilson–Cowan form, r_t = d r_{t-1} + (1 - d) sigmoid(g W r_{t-1} - b): traces
    of W, the gain, the threshold and the decay through each unit's own leak d."""
    steps, n = target.shape
    d, gain, theta, w = p["decay"], p["gain"], p["threshold"], p["weight"]
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
    return loss, torch.stack(outputs), grads


@torch.no_grad()
def rate_neurotorch_gradients(p: dict, target: Tensor, weights: Tensor, norm: Tensor):
    """The neurotorch form,
    r_t = (1 - h) r_{t-1} + h (1 - c r_{t-1}) s_t,  s_t = sigmoid(g u_t - b),  u_t = W r_{t-1}.

    u_t is the fed-back input (not differentiated); each unit's own path is, with
    s'_t = s_t (1 - s_t): dr_t/dr_{t-1} = (1 - h) - h c s_t, and the eligibility traces
    e_t = (dr_t/dr_{t-1}) e_{t-1} + (direct dr_t/dtheta) with the direct terms
    h (1 - c r) s' g r_pre (W), h (1 - c r) s' u (g), -h (1 - c r) s' (b), -r + (1 - c r) s
    (h) and -h r s (c), r meaning r_{t-1}.
    """
    steps, n = target.shape
    h, c, gain, theta, w = (
        p["dt_over_tau"], p["transition"], p["gain"], p["threshold"], p["weight"]
    )  # fmt: skip
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
    return loss, torch.stack(outputs), grads


class _UnitTraces:
    """Eligibility traces of a ``SpikingActivityNetwork``'s units, for W (pre: the fed-back
    outputs, (1, N)) and the bias current, through current (eps_i), membrane (eps_v, with the
    reset factor 1 - z of the "zero" reset) and the low-pass filter of the spikes (r_w, r_b)."""

    def __init__(self, n: int, model, like: Tensor):
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


@torch.no_grad()
def spiking_gradients(model, p: dict, target: Tensor, weights: Tensor, norm: Tensor,
                      back: Tensor | None):  # fmt: skip
    """``SpikingActivityNetwork``: traces of W and the bias current through each unit's
    current, membrane (with its reset), spikes and low-pass filter; ``back`` (N, N) carries the
    full readout's error to the units (None: diagonal readout, exact learning signal)."""
    steps, n = target.shape
    substeps = model.steps_per_frame
    params, lowpass = model.neuron_params(), nrn.LowPassParams(model.kappa)
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
            z, neuron, distance = nrn.lif_syn_step(current, before, params, return_distance=True)
            _, filtered = nrn.lowpass_step(z, filtered, lowpass)
            traces.filter(nrn.pseudo_derivative(distance, before.refractory, params))
        y = model.read_out(filtered.r, p)
        state = type(state)(neuron, filtered, y)
        error = y - target[t]
        loss += weights[t] * error.square().sum() / norm
        dy = 2.0 * weights[t] * error / norm * y * (1.0 - y)
        if back is None:
            signal = dy * p["readout_gain"]
            grads["readout_gain"].add_((dy * filtered.r).sum(0))
        else:
            signal = dy @ back
            grads["readout_weight"].add_(dy.t() @ filtered.r)
        _add_trace_gradients(grads, signal, traces.r_w, bias_current=traces.r_b)
        grads["readout_bias"].add_(dy.sum(0))
        outputs.append(y[0])
    return loss, torch.stack(outputs), grads
