"""The spiking activity network's fused backends: its rollout (``dynamics.spiking_activity``:
LIF with synaptic current, low-pass filter, sigmoid readout, fed back its own output) as one
``torch.autograd.Function``, time loops in torch (any device, bitwise the reference's outputs
and spikes) or compiled (``activity_kernels``, CPU), and the hand-written backward through time.
``models.fast_activity`` says how these loops work.

Adjoints (backward), per sub-step in reverse: dv~ = psi (1 - kappa) G_r + (1 - z) beta dv~_next;
dI = dv~ + alpha dI_next;  G_r <- kappa G_r;  delta_t = sum of dI over the frame / S;
dL/dy_{t-1} = delta_t W (+ its own loss term), G_r += readout slope * dL/dy, with psi the
surrogate derivative of ``surrogates.surrogate_derivative`` and the reset detached.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from neurocircuit.models import activity_kernels
from neurocircuit.models.fused_rate import _array, _compiled, _stacked_product, _sum_units
from neurocircuit.models.surrogates import check_surrogate, surrogate_derivative


class _SpikingRollout(torch.autograd.Function):
    """LIF-with-synapse rollout with low-pass filter and readout; see the module docstring."""

    @staticmethod
    def forward(
        ctx, v0, i0, r0, y0, weight, bias, readout, readout_bias, n_steps, constants, compiled
    ):
        alpha, beta, kappa, threshold, subtract, _, _, substeps, full = constants
        batch, n = y0.shape
        outputs = y0.new_empty(n_steps + 1, batch, n)
        filtered = y0.new_empty(n_steps + 1, batch, n)  # r at the end of every frame
        membrane = y0.new_empty(n_steps * substeps, batch, n)  # v~ of every sub-step
        spikes = torch.empty_like(membrane)
        outputs[0].copy_(y0)
        filtered[0].copy_(r0)
        v, i = v0.detach().clone(), i0.detach().clone()
        ctx.save_for_backward(outputs, filtered, membrane, spikes, weight, readout)
        ctx.constants, ctx.compiled = constants, compiled
        if compiled:
            activity_kernels.spiking_forward(
                outputs.numpy(), filtered.numpy(), membrane.numpy(), spikes.numpy(), v.numpy(),
                i.numpy(), _array(weight.t()), _array(bias),
                _array(readout.t() if full else weight), _array(bias if full else readout),
                _array(readout_bias),
                alpha, beta, kappa, threshold, subtract, substeps, full,
            )  # fmt: skip
            return outputs[1:], v, i, spikes[-1].clone(), filtered[-1].clone()
        current, r_sub = torch.empty_like(y0), torch.empty_like(y0)
        # 0-dim tensors: the same values as the plain loop's Python floats, cheaper per op
        alpha_, beta_, kappa_, threshold_, frames_ = (
            torch.tensor(value, dtype=y0.dtype, device=y0.device)
            for value in (alpha, beta, kappa, threshold, float(substeps))
        )
        keep = 1.0 - kappa
        weight_t = weight.t()
        readout_t = readout.t() if full else None
        y, f, vt, z = outputs.unbind(0), filtered.unbind(0), membrane.unbind(0), spikes.unbind(0)
        # the filter's state before and after each sub-step: r_sub inside a frame
        r_from = [f[k // substeps] if k % substeps == 0 else r_sub for k in range(len(vt))]
        r_to = [f[k // substeps + 1] if (k + 1) % substeps == 0 else r_sub for k in range(len(vt))]
        mm, mul, gt, addcmul = torch.mm, torch.mul, torch.gt, torch.addcmul
        # the plain loop's arithmetic op for op (bitwise the same outputs and spikes)
        frames = zip(y[:-1], y[1:], f[1:], range(0, len(vt), substeps), strict=True)
        for y_prev, y_now, f_now, first in frames:
            mm(y_prev, weight_t, out=current)
            current.add_(bias)
            if substeps > 1:
                current.div_(frames_)
            for k in range(first, first + substeps):
                vt_k, z_k = vt[k], z[k]
                i.mul_(alpha_).add_(current)
                mul(v, beta_, out=vt_k)
                vt_k.add_(i)
                gt(vt_k, threshold_, out=z_k)
                if subtract:
                    torch.add(vt_k, z_k, alpha=-threshold, out=v)
                else:
                    addcmul(vt_k, vt_k, z_k, value=-1.0, out=v)
                mul(r_from[k], kappa_, out=r_to[k])
                r_to[k].add_(z_k, alpha=keep)
            if full:
                torch.addmm(readout_bias, f_now, readout_t, out=y_now)
            else:
                mul(readout, f_now, out=y_now)
                y_now.add_(readout_bias)
            y_now.sigmoid_()
        return outputs[1:], v, i, spikes[-1].clone(), filtered[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_outputs, grad_v, grad_i, grad_z, grad_r):
        outputs, filtered, membrane, spikes, weight, readout = ctx.saved_tensors
        alpha, beta, kappa, threshold, subtract, surrogate, scale, substeps, full = ctx.constants
        n_steps = outputs.shape[0] - 1
        last = n_steps * substeps - 1
        # psi (1 - kappa): dz/dv~ times dr/dz; (1 - z) beta: dv~_next/dv~ through the reset
        psi = surrogate_derivative(membrane - threshold, surrogate, scale, threshold)
        final_psi = psi[last].clone()
        psi.mul_(1.0 - kappa)
        reset = None if subtract else (1.0 - spikes).mul_(beta)
        y = outputs[1:]
        slope = y * (1.0 - y)  # dy/d(pre-activation)
        readout_slope = None if full else slope * readout  # dy/dr, diagonal readout
        if ctx.compiled:
            return _spiking_adjoint_compiled(
                ctx, grad_outputs, grad_v, grad_i, grad_z, grad_r, psi, final_psi, reset,
                slope, readout_slope,
            )  # fmt: skip
        grad_y = torch.empty_like(y)  # dL/dy_t, total
        delta = torch.empty_like(y)  # dL/da_t, a_t = W y_{t-1} + b_in
        grad_pre = torch.empty_like(y) if full else None  # dL/d(W_out r_t + c)
        grad_r_now = grad_r.clone()  # dL/dr at the current sub-step, total
        grad_vt, grad_vt_next = torch.empty_like(grad_v), torch.empty_like(grad_v)
        grad_in, grad_in_next = torch.empty_like(grad_v), torch.empty_like(grad_v)
        kappa_, frames_ = (
            torch.tensor(value, dtype=grad_v.dtype, device=grad_v.device)
            for value in (kappa, float(substeps))
        )
        go, gy, dl = grad_outputs.unbind(0), grad_y.unbind(0), delta.unbind(0)
        ps = psi.unbind(0)
        rs = None if subtract else reset.unbind(0)
        slopes = (slope if full else readout_slope).unbind(0)
        gp = grad_pre.unbind(0) if full else None
        mul, add, addmm = torch.mul, torch.add, torch.addmm
        for t in range(n_steps - 1, -1, -1):
            if t == n_steps - 1:
                gy[t].copy_(go[t])
            else:
                addmm(go[t], dl[t + 1], weight, out=gy[t])
            if full:
                mul(slopes[t], gy[t], out=gp[t])
                grad_r_now.addmm_(gp[t], readout)
            else:
                grad_r_now.addcmul_(slopes[t], gy[t])
            if substeps == 1:
                grad_in = dl[t]
            for k in range((t + 1) * substeps - 1, t * substeps - 1, -1):
                mul(ps[k], grad_r_now, out=grad_vt)
                if k == last:  # the final state's own gradients (zero when it is not used)
                    grad_vt.addcmul_(final_psi, grad_z)
                    grad_vt.add_(grad_v if subtract else (1.0 - spikes[k]) * grad_v)
                    add(grad_vt, grad_i, out=grad_in)
                else:
                    if subtract:
                        grad_vt.add_(grad_vt_next, alpha=beta)
                    else:
                        grad_vt.addcmul_(rs[k], grad_vt_next)
                    add(grad_vt, grad_in_next, alpha=alpha, out=grad_in)
                if substeps > 1:
                    if k == (t + 1) * substeps - 1:
                        dl[t].copy_(grad_in)
                    else:
                        dl[t].add_(grad_in)
                    grad_in, grad_in_next = grad_in_next, grad_in
                else:
                    grad_in_next = grad_in
                grad_r_now.mul_(kappa_)
                grad_vt, grad_vt_next = grad_vt_next, grad_vt
            if substeps > 1:
                dl[t].div_(frames_)
        state_grads = (beta * grad_vt_next, alpha * grad_in_next, grad_r_now)
        return _spiking_parameter_grads(ctx, state_grads, delta, grad_y, grad_pre, slope)


def _spiking_adjoint_compiled(
    ctx, grad_outputs, grad_v, grad_i, grad_z, grad_r, psi, final_psi, reset, slope,
    readout_slope,
):  # fmt: skip
    """The spiking backward's time loop in ``activity_kernels`` (CPU); then the parameter
    gradients as the torch loop's."""
    outputs, filtered, membrane, spikes, weight, readout = ctx.saved_tensors
    alpha, beta, kappa, _, subtract, _, _, substeps, full = ctx.constants
    grad_y = torch.empty_like(slope)
    delta = torch.empty_like(slope)
    grad_pre = torch.empty_like(slope) if full else None
    final_reset = torch.ones_like(grad_v) if subtract else 1.0 - spikes[-1]
    grad_r0, grad_vt0, grad_in0 = activity_kernels.spiking_adjoint(
        grad_y.numpy(), delta.numpy(), (grad_pre if full else delta).numpy(),
        _array(grad_outputs), psi.numpy(), (psi if subtract else reset).numpy(),
        (slope if full else readout_slope).numpy(), _array(weight),
        _array(readout if full else weight), _array(final_psi), _array(final_reset),
        _array(grad_v), _array(grad_i), _array(grad_z), _array(grad_r),
        alpha, beta, kappa, subtract, substeps, full,
    )  # fmt: skip
    state_grads = tuple(torch.from_numpy(g) for g in (beta * grad_vt0, alpha * grad_in0, grad_r0))
    return _spiking_parameter_grads(ctx, state_grads, delta, grad_y, grad_pre, slope)


def _spiking_parameter_grads(ctx, state_grads, delta, grad_y, grad_pre, slope):
    """The spiking backward's gradients, from the adjoints: ``state_grads`` (dL/dv_0,
    dL/di_0, dL/dr_0), ``delta`` dL/da_t and ``grad_y`` dL/dy_t (T, B, N), ``grad_pre``
    dL/d(W_out r_t + c) (full readout; None for the diagonal one) and ``slope`` dy/d(pre)."""
    outputs, filtered, _, _, weight, _ = ctx.saved_tensors
    full = ctx.constants[-1]
    needs = ctx.needs_input_grad
    grads = [None] * 11
    for k in range(3):
        if needs[k]:
            grads[k] = state_grads[k]
    if needs[3]:
        grads[3] = delta[0] @ weight
    if needs[4]:
        grads[4] = _stacked_product(delta, outputs[:-1])
    if needs[5]:
        grads[5] = _sum_units(delta)
    if not full:
        grad_pre = slope.mul_(grad_y)
    if needs[6]:
        if full:
            grads[6] = _stacked_product(grad_pre, filtered[1:])
        else:
            grads[6] = _sum_units(grad_pre * filtered[1:])
    if needs[7]:
        grads[7] = _sum_units(grad_pre)
    return tuple(grads)


def spiking_rollout(
    state: tuple[Tensor, Tensor, Tensor, Tensor],
    params: dict[str, Tensor],
    n_steps: int,
    *,
    alpha: float,
    beta: float,
    kappa: float,
    threshold: float,
    reset: str,
    surrogate: str,
    surrogate_scale: float,
    steps_per_frame: int,
    kernels: str = "auto",
):
    """The next ``n_steps`` outputs of a spiking activity network and its final state.

    Args:
        state: (v, i, r, y) (B, N) each at the start: membrane, synaptic current, filtered
            spikes, last output (``SpikingActivityNetwork``'s state).
        params: the module's effective parameters (``effective_parameters()``), with graph:
            weight (N, N), bias_current (N,), readout_bias (N,), and readout_gain (N,)
            (diagonal readout) or readout_weight (N, N) (full readout).
        n_steps: frames to run (>= 1).
        alpha, beta, kappa: synaptic, membrane and output-filter decays per sub-step.
        threshold, reset ("zero" | "subtract"), surrogate ("superspike" | "triangle"),
            surrogate_scale: spike generation, as ``neurons.lif_syn_step``.
        steps_per_frame: sub-steps S per frame.
        kernels: "auto" (the compiled loops of ``activity_kernels`` on the CPU, the torch
            loops elsewhere), "compiled" or "torch".

    Returns:
        outputs (n_steps, B, N) and the final v, i, z, r (B, N), what the plain loop gives
        (the torch loops: bitwise; the compiled ones: to rounding), differentiable with
        respect to the start state and every parameter.
    """
    if int(n_steps) < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if reset not in ("zero", "subtract"):
        raise ValueError(f"reset must be 'zero' or 'subtract', got {reset!r}")
    check_surrogate(surrogate)
    full = "readout_weight" in params
    readout = params["readout_weight"] if full else params["readout_gain"]
    constants = (
        float(alpha), float(beta), float(kappa), float(threshold), reset == "subtract",
        surrogate, float(surrogate_scale), int(steps_per_frame), full,
    )  # fmt: skip
    v0, i0, r0, y0 = state
    return _SpikingRollout.apply(
        v0, i0, r0, y0, params["weight"], params["bias_current"], readout,
        params["readout_bias"], int(n_steps), constants, _compiled(kernels, y0),
    )  # fmt: skip
