"""The rate network's fused backends: the Wilson–Cowan rollout (both forms of
``dynamics.wilson_cowan``) as one ``torch.autograd.Function``, its time loops in torch (any
device, bitwise the reference's outputs) or compiled (``activity_kernels``, CPU), and its
hand-written backward through time. ``models.fast_activity`` says how these loops work; the
helpers here (NumPy views, reductions over time) serve ``fused_spiking`` too.

The forward equations are ``dynamics.wilson_cowan``'s, with u_t = W r_{t-1} the drive and
s_t = sigmoid(g u_t - b). Adjoints, G_t = dL/dr_t summed over every later use:
    G_t = dL/dr_t + leak_{t+1} G_{t+1} + delta_{t+1} W,  delta_t = G_t * ds_t/du_t
    (leak = d, or (1 - h) - h c s_t in the neurotorch form)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from neurocircuit.models import activity_kernels

RATE_FORMS = ("default", "neurotorch")
KERNELS = ("auto", "compiled", "torch")


def _compiled(kernels: str, tensor: Tensor) -> bool:
    """Whether a rollout runs its time loops in ``activity_kernels`` (compiled, CPU only):
    ``kernels`` "auto" (on the CPU), "compiled" (an error elsewhere) or "torch" (the torch
    loops, any device)."""
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, got {kernels!r}")
    on_cpu = tensor.device.type == "cpu"
    if kernels == "compiled" and not on_cpu:
        raise ValueError(f"the compiled kernels run on the CPU only, not on {tensor.device}")
    return on_cpu and kernels != "torch"


def _array(tensor: Tensor) -> np.ndarray:
    """A C-contiguous NumPy array of a CPU tensor (a view when it already is one)."""
    return np.ascontiguousarray(tensor.detach().numpy())


def _sum_units(x: Tensor) -> Tensor:
    """(T, B, N) -> (N,): the sum over time and batch."""
    return x.sum(dim=(0, 1))


def _stacked_product(left: Tensor, right: Tensor) -> Tensor:
    """sum_t left_t^T right_t over (T, B, N) stacks: (N, N), one matrix product."""
    n = left.shape[-1]
    return left.reshape(-1, n).t() @ right.reshape(-1, right.shape[-1])


class _RateRollout(torch.autograd.Function):
    """Wilson–Cowan rollout, both forms; see the module docstring."""

    @staticmethod
    def forward(
        ctx, r0, weight, decay_or_step, gain, threshold, transition, n_steps, neurotorch, compiled
    ):
        # decay_or_step: decay d (default form) or h = dt / tau (neurotorch form)
        batch, n = r0.shape
        rates = r0.new_empty(n_steps + 1, batch, n)
        drive = r0.new_empty(n_steps, batch, n)
        sig = r0.new_empty(n_steps, batch, n)
        rates[0].copy_(r0)
        ctx.neurotorch, ctx.compiled = neurotorch, compiled
        ctx.save_for_backward(rates, drive, sig, weight, decay_or_step, gain, transition)
        if compiled:
            activity_kernels.rate_forward(
                rates.numpy(), drive.numpy(), sig.numpy(), _array(weight.t()),
                _array(decay_or_step), _array(gain), _array(threshold),
                _array(decay_or_step if transition is None else transition), neurotorch,
            )  # fmt: skip
            return rates[1:]
        tmp = r0.new_empty(batch, n)
        weight_t = weight.t()
        one = torch.ones((), dtype=r0.dtype, device=r0.device)
        one_minus = 1.0 - decay_or_step
        mm, mul, sub = torch.mm, torch.mul, torch.sub
        x, u, s = rates.unbind(0), drive.unbind(0), sig.unbind(0)
        # the plain loop's arithmetic op for op, so that the outputs are bitwise the same
        for t in range(n_steps):
            mm(x[t], weight_t, out=u[t])
            mul(u[t], gain, out=s[t])
            s[t].sub_(threshold)
            s[t].sigmoid_()
            if neurotorch:  # (1 - h) x + h (1 - c x) s
                mul(x[t], one_minus, out=x[t + 1])
                mul(x[t], transition, out=tmp)
                sub(one, tmp, out=tmp)
                tmp.mul_(decay_or_step)
                tmp.mul_(s[t])
            else:  # d r + (1 - d) s
                mul(x[t], decay_or_step, out=x[t + 1])
                mul(s[t], one_minus, out=tmp)
            x[t + 1].add_(tmp)
        return rates[1:]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_rates):
        rates, drive, sig, weight, decay_or_step, gain, transition = ctx.saved_tensors
        steps = sig.shape[0]
        previous = rates[:-1]
        slope = sig * (1.0 - sig)
        if ctx.neurotorch:
            h = decay_or_step
            cx = transition * previous
            ds = h * (1.0 - cx)  # dx_t / ds_t
            leak = (1.0 - h) - h * transition * sig  # dx_t / dx_{t-1}, direct (T, B, N)
        else:
            ds = 1.0 - decay_or_step
            leak = decay_or_step.expand_as(sig)
        dpre_factor = ds * slope  # dx_t / d(g u_t - b)
        coef = dpre_factor * gain  # dx_t / du_t
        adjoint = torch.empty_like(sig)  # G_t = dL/dx_t, total
        delta = torch.empty_like(sig)  # dL/du_t
        if ctx.compiled:
            activity_kernels.rate_adjoint(
                adjoint.numpy(), delta.numpy(), _array(grad_rates), _array(weight),
                _array(leak), _array(coef),
            )  # fmt: skip
        else:
            g, d, grad, lk, c = (adjoint.unbind(0), delta.unbind(0), grad_rates.unbind(0),
                                 leak.unbind(0), coef.unbind(0))  # fmt: skip
            addmm, mul = torch.addmm, torch.mul
            g[-1].copy_(grad[-1])
            mul(g[-1], c[-1], out=d[-1])
            for t in range(steps - 2, -1, -1):
                addmm(grad[t], d[t + 1], weight, out=g[t])
                g[t].addcmul_(lk[t + 1], g[t + 1])
                mul(g[t], c[t], out=d[t])
        grads = [None] * 9
        needs = ctx.needs_input_grad
        if needs[0]:
            grads[0] = torch.addmm(leak[0] * adjoint[0], delta[0], weight)
        if needs[1]:
            grads[1] = _stacked_product(delta, previous)
        dpre = adjoint * dpre_factor  # dL/d(g u_t - b)
        if needs[3]:
            grads[3] = _sum_units(dpre * drive)
        if needs[4]:
            grads[4] = -_sum_units(dpre)
        if ctx.neurotorch:
            if needs[2]:
                grads[2] = _sum_units(adjoint * ((1.0 - cx) * sig - previous))
            if needs[5]:
                grads[5] = -_sum_units(adjoint * (h * previous * sig))
        elif needs[2]:
            grads[2] = _sum_units(adjoint * (previous - sig))
        return tuple(grads)


def rate_rollout(
    r0: Tensor,
    params: dict[str, Tensor],
    n_steps: int,
    form: str = "default",
    kernels: str = "auto",
):
    """The next ``n_steps`` rates (n_steps, B, N) of a Wilson–Cowan network from rates r0 (B, N).

    Args:
        r0: (B, N) rates at the start.
        params: the module's effective parameters (``RateActivityNetwork.effective_parameters``),
            with graph: weight (N, N) [post, pre], gain (N,), threshold (N,), and decay (N,)
            (default form) or dt_over_tau and transition (N,) (neurotorch form).
        n_steps: steps to run (>= 1).
        form: "default" or "neurotorch" (the module's ``wilson_cowan``).
        kernels: "auto" (the compiled loops of ``activity_kernels`` on the CPU, the torch
            loops elsewhere), "compiled" or "torch".

    Returns:
        (n_steps, B, N), what the plain loop of ``neurons.wilson_cowan_step`` (or
        ``wilson_cowan_neurotorch_step``) gives (the torch loops: bitwise; the compiled ones:
        to rounding), differentiable with respect to r0 and every parameter through the
        hand-written backward.
    """
    if form not in RATE_FORMS:
        raise ValueError(f"form must be one of {RATE_FORMS}, got {form!r}")
    if int(n_steps) < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    neurotorch = form == "neurotorch"
    decay_or_step = params["dt_over_tau"] if neurotorch else params["decay"]
    transition = params["transition"] if neurotorch else None
    return _RateRollout.apply(
        r0, params["weight"], decay_or_step, params["gain"], params["threshold"], transition,
        int(n_steps), neurotorch, _compiled(kernels, r0),
    )  # fmt: skip
