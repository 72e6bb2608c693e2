"""Fused rollouts of the activity networks (``models.activity``): the time loop without a
per-step autograd graph and a hand-written backward pass through time.

A fit iteration rolls a network of N units out over T frames (the zebrafish recording: 522
units, 619 steps) on its own output. Under autograd every step records a graph of small
element-wise nodes, so the time goes to per-step overhead rather than arithmetic. Here one
``torch.autograd.Function`` per network kind runs the whole rollout:

- forward: the recurrence in preallocated (T, B, N) buffers, no graph. Two kinds of time loop
  (``kernels``): on the CPU by default the loops of ``activity_kernels``, compiled by numba
  (one OpenBLAS product and one fused pass over the units per step; outputs equal to the plain
  loop's to rounding), else torch loops with in-place ops whose arithmetic is the plain loop's,
  op for op (same products, same order, no fused multiply-add where the plain loop rounds
  twice), so their outputs and spikes are **bitwise identical** to the step functions of
  ``neurons`` run by the modules' plain loops (the path CUDA takes);
- backward: the adjoint recursion in reverse, one vector-matrix product and a few in-place
  element-wise ops per step; every coefficient that does not depend on the adjoint (sigmoid
  slopes, surrogate derivatives, reset factors) is computed for all T at once before the
  loop, and every per-unit parameter gradient as one reduction after it;
- the weight gradient is one matrix product over the stacked trajectory,
  dL/dW = sum_t delta_t^T x_{t-1};
- the effective parameters (W with Dale's law and masks, decays, gains) come in as tensors
  computed once per rollout by the module, so their own autograd maps dL/dW_eff to the raw
  parameters (the Dale parametrization runs once per iteration, not once per step).

Equations (B, N) per step, W [post, pre]; see ``neurons`` for the step functions.

Rate, default form (``neurons.wilson_cowan_step``), d = exp(-dt / tau):
    u_t = W r_{t-1};  s_t = sigmoid(g u_t - b);  r_t = d r_{t-1} + (1 - d) s_t
Rate, neurotorch form (``neurons.wilson_cowan_neurotorch_step``), h = dt / tau, c transition:
    x_t = (1 - h) x_{t-1} + h (1 - c x_{t-1}) s_t
Spiking (``neurons.lif_syn_step`` + ``neurons.lowpass_step``), S sub-steps per frame:
    a_t = W y_{t-1} + b_in  (divided by S when S > 1), then S times
    i <- alpha i + a;  v~ = beta v + i;  z = H(v~ - theta);  v = v~ (1 - sg(z)) or
    v~ - theta sg(z);  r <- kappa r + (1 - kappa) z
    y_t = sigmoid(g r + c) (diagonal readout) or sigmoid(W_out r + c) (full readout)
with the surrogate derivative of ``surrogates.surrogate_derivative`` for dz/dv~ and the reset
detached (sg), exactly as the plain loop's autograd treats them.

Adjoints (backward), G_t = dL/d(state_t) summed over every later use:
    rate: G_t = dL/dr_t + leak_{t+1} G_{t+1} + delta_{t+1} W,
          delta_t = G_t * ds_t/du_t (leak = d, or (1 - h) - h c s_t in the neurotorch form)
    spiking, per sub-step in reverse: dv~ = psi (1 - kappa) G_r + (1 - z) beta dv~_next;
          dI = dv~ + alpha dI_next;  G_r <- kappa G_r;  delta_t = sum of dI over the frame / S;
          dL/dy_{t-1} = delta_t W (+ its own loss term), G_r += readout slope * dL/dy
tests/unit/test_fast_activity.py checks, for both kinds of loop, the outputs (torch loops
bitwise, compiled loops to rounding; CPU, float32 and float64) and every gradient (float64,
relative 1e-10) against the modules' plain loops under autograd, with and without Dale's law,
for full and truncated BPTT (truncation is the caller's: one fused rollout per window, the
state detached between windows), including the gradients into the start state and out of the
final one. Second derivatives are not supported (``once_differentiable``).

The compiled loops run on CPU tensors (``kernels`` "auto" or "compiled"), the torch loops on
any device ("auto" on CUDA, or "torch"). The modules use these kernels for every rollout in
float32 or float64 on the CPU or CUDA (the tensors' device decides;
``fused_rollout_applies``) and keep the plain loop elsewhere: other
dtypes, mixed devices or dtypes, a rate rollout with ``external_input``, and
``use_fast_path=False``. E-prop never rolls out through them: it has its own forward-mode loop
(``learning.eprop``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from neurocircuit.models import activity_kernels
from neurocircuit.models.surrogates import check_surrogate, surrogate_derivative

FUSED_DTYPES = (torch.float32, torch.float64)
FUSED_DEVICES = ("cpu", "cuda")
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


def fused_rollout_applies(*tensors: Tensor) -> bool:
    """Whether the fused rollouts run on these tensors: all float32 or all float64, on one CPU
    or CUDA device. Elsewhere (other dtypes and devices, mixed ones) the modules keep their
    plain loops."""
    first = tensors[0]
    if first.dtype not in FUSED_DTYPES or first.device.type not in FUSED_DEVICES:
        return False
    return all(t.dtype == first.dtype and t.device == first.device for t in tensors)


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
        ctx, r0, weight, leak_rate, gain, threshold, transition, n_steps, neurotorch, compiled
    ):
        # leak_rate: decay d (default form) or h = dt / tau (neurotorch form)
        batch, n = r0.shape
        rates = r0.new_empty(n_steps + 1, batch, n)
        drive = r0.new_empty(n_steps, batch, n)
        sig = r0.new_empty(n_steps, batch, n)
        rates[0].copy_(r0)
        ctx.neurotorch, ctx.compiled = neurotorch, compiled
        ctx.save_for_backward(rates, drive, sig, weight, leak_rate, gain, transition)
        if compiled:
            activity_kernels.rate_forward(
                rates.numpy(), drive.numpy(), sig.numpy(), _array(weight.t()), _array(leak_rate),
                _array(gain), _array(threshold), _array(leak_rate if transition is None
                                                        else transition), neurotorch,
            )  # fmt: skip
            return rates[1:]
        tmp = r0.new_empty(batch, n)
        weight_t = weight.t()
        one = torch.ones((), dtype=r0.dtype, device=r0.device)
        one_minus = 1.0 - leak_rate
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
                tmp.mul_(leak_rate)
                tmp.mul_(s[t])
            else:  # d r + (1 - d) s
                mul(x[t], leak_rate, out=x[t + 1])
                mul(s[t], one_minus, out=tmp)
            x[t + 1].add_(tmp)
        return rates[1:]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_rates):
        rates, drive, sig, weight, leak_rate, gain, transition = ctx.saved_tensors
        steps = sig.shape[0]
        previous = rates[:-1]
        slope = sig * (1.0 - sig)
        if ctx.neurotorch:
            h = leak_rate
            cx = transition * previous
            ds = h * (1.0 - cx)  # dx_t / ds_t
            leak = (1.0 - h) - h * transition * sig  # dx_t / dx_{t-1}, direct (T, B, N)
        else:
            ds = 1.0 - leak_rate
            leak = leak_rate.expand_as(sig)
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
    leak_rate = params["dt_over_tau"] if neurotorch else params["decay"]
    transition = params["transition"] if neurotorch else None
    return _RateRollout.apply(
        r0, params["weight"], leak_rate, params["gain"], params["threshold"], transition,
        int(n_steps), neurotorch, _compiled(kernels, r0),
    )  # fmt: skip


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
