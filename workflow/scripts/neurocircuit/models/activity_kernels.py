"""Compiled time loops of the fused activity rollouts on the CPU: the "compiled" backend of
``models.fused_rate`` and ``models.fused_spiking`` (``models.fast_activity`` describes both).

A fit iteration of the zebrafish network is 619 dependent steps of one (1, N) x (N, N)
product each way plus a few element-wise operations per step. Under torch on the CPU each of
those is its own dispatched kernel, and torch's BLAS (MKL) takes about 23 us for one 522 x 522
vector-matrix product on the AMD EPYC machines we run on, where the OpenBLAS that NumPy and
SciPy ship takes 13 us (the weights' 1.1 MB read from the core's L2 cache: near the hardware's
bound). These loops, compiled by numba, call that BLAS for the products (``np.dot`` on
contiguous arrays) and fuse each step's element-wise work into one pass over the units, so a
step costs its product and little else.

Every function fills preallocated NumPy arrays in place (views of the torch buffers of
``fast_activity``), the arithmetic the same as the torch loops there (same equations, same
order of operations; float32 inputs are computed in float32 except where a float constant
promotes a product to float64 before it is stored, so outputs agree with the torch loops to
float32 rounding and in float64 to about 1e-15). Shapes: time-major (T, B, N), W [post, pre].
Spiking kernels take the surrogate derivative and the reset factors precomputed by the caller.
``tests/unit/test_fast_activity.py`` checks these loops against the plain autograd loops and
against the torch loops of ``fast_activity``.

Compiled once per dtype on first use and cached on disk (numba ``cache=True``: next to this
file, or numba's user cache when the folder is read-only).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def rate_forward(
    rates, drive, sig, weight_t, decay_or_step, gain, threshold, transition, neurotorch
):
    """Wilson–Cowan rollout in place: ``rates`` (T+1, B, N) with rates[0] set; fills
    rates[1:], ``drive`` u_t = W r_{t-1} and ``sig`` s_t (T, B, N). ``weight_t``: W^T,
    C-contiguous (N, N). ``decay_or_step``: d (default form) or h = dt / tau (neurotorch form),
    ``transition``: c (neurotorch form; ignored otherwise), all (N,)."""
    steps, batch, n = sig.shape
    for t in range(steps):
        u = np.dot(rates[t], weight_t)  # (B, N) = r_{t-1} W^T
        drive[t] = u
        for b in range(batch):
            for j in range(n):
                s = 1.0 / (1.0 + math.exp(-(u[b, j] * gain[j] - threshold[j])))
                sig[t, b, j] = s
                x = rates[t, b, j]
                if neurotorch:  # (1 - h) x + h (1 - c x) s
                    h = decay_or_step[j]
                    rates[t + 1, b, j] = x * (1.0 - h) + (1.0 - x * transition[j]) * h * s
                else:  # d x + (1 - d) s
                    d = decay_or_step[j]
                    rates[t + 1, b, j] = x * d + s * (1.0 - d)


@njit(cache=True)
def rate_adjoint(adjoint, delta, grad_rates, weight, leak, coef):
    """Backward recursion of the rate rollout in place, from the last step to the first:
    G_t = dL/dx_t + leak_{t+1} G_{t+1} + delta_{t+1} W and delta_t = G_t coef_t, with
    ``leak`` (T, B, N) dx_t/dx_{t-1} (direct) and ``coef`` (T, B, N) dx_t/du_t. Fills
    ``adjoint`` and ``delta`` (T, B, N). ``weight``: W (N, N), C-contiguous."""
    steps, batch, n = delta.shape
    adjoint[steps - 1] = grad_rates[steps - 1]
    delta[steps - 1] = adjoint[steps - 1] * coef[steps - 1]
    for t in range(steps - 2, -1, -1):
        back = np.dot(delta[t + 1], weight)  # (B, N) = delta_{t+1} W
        for b in range(batch):
            for j in range(n):
                g = grad_rates[t, b, j] + back[b, j] + leak[t + 1, b, j] * adjoint[t + 1, b, j]
                adjoint[t, b, j] = g
                delta[t, b, j] = g * coef[t, b, j]


@njit(cache=True)
def spiking_forward(
    outputs, filtered, membrane, spikes, v, i, weight_t, bias, readout_t, gain, readout_bias,
    alpha, beta, kappa, threshold, subtract, substeps, full,
):  # fmt: skip
    """LIF-with-synapse rollout in place. ``outputs`` and ``filtered`` (T+1, B, N) with frame
    0 set; fills outputs[1:] (the readout y), filtered[1:] (r at each frame's end),
    ``membrane`` (T S, B, N: v~ of every sub-step) and ``spikes`` (T S, B, N); ``v``, ``i``
    (B, N): the start state, left holding the final one. ``weight_t``: W^T (C-contiguous);
    ``readout_t``: W_out^T (N, N) (full readout) and ``gain`` (N,) (diagonal readout): the one
    not used may be any array of its shape."""
    steps = outputs.shape[0] - 1
    batch, n = v.shape
    keep = 1.0 - kappa
    r = np.empty((batch, n), dtype=outputs.dtype)
    for t in range(steps):
        current = np.dot(outputs[t], weight_t)  # (B, N) = y_{t-1} W^T
        r[:] = filtered[t]
        for b in range(batch):
            for j in range(n):
                a = current[b, j] + bias[j]
                if substeps > 1:
                    a = a / substeps
                current[b, j] = a
        for k in range(t * substeps, (t + 1) * substeps):
            for b in range(batch):
                for j in range(n):
                    syn = i[b, j] * alpha + current[b, j]
                    i[b, j] = syn
                    vt = v[b, j] * beta + syn
                    membrane[k, b, j] = vt
                    z = 1.0 if vt > threshold else 0.0
                    spikes[k, b, j] = z
                    if subtract:
                        v[b, j] = vt - threshold * z
                    else:
                        v[b, j] = vt - vt * z
                    r[b, j] = r[b, j] * kappa + keep * z
        filtered[t + 1] = r
        if full:
            pre = np.dot(r, readout_t)  # (B, N) = r W_out^T
            for b in range(batch):
                for j in range(n):
                    outputs[t + 1, b, j] = 1.0 / (1.0 + math.exp(-(pre[b, j] + readout_bias[j])))
        else:
            for b in range(batch):
                for j in range(n):
                    drive = gain[j] * r[b, j] + readout_bias[j]
                    outputs[t + 1, b, j] = 1.0 / (1.0 + math.exp(-drive))


@njit(cache=True)
def spiking_adjoint(
    grad_y, delta, grad_pre, grad_outputs, psi, reset, slopes, weight, readout,
    final_psi, final_reset, grad_v, grad_i, grad_z, grad_r,
    alpha, beta, kappa, subtract, substeps, full,
):  # fmt: skip
    """Backward recursion of the spiking rollout in place (``fast_activity`` gives the
    equations). In: ``grad_outputs`` (T, B, N); ``psi`` (T S, B, N) = surrogate derivative
    times (1 - kappa); ``reset`` (T S, B, N) = (1 - z) beta (zero reset; unused when
    ``subtract``); ``slopes`` (T, B, N) = dy/d(pre) (full) or dy/dr (diagonal); ``weight`` W
    and ``readout`` W_out (N, N) C-contiguous (``readout`` unused when diagonal);
    ``final_psi``, ``final_reset`` (B, N) the last sub-step's surrogate derivative and
    (1 - z) (1 when ``subtract``); the final state's gradients ``grad_v``, ``grad_i``,
    ``grad_z``, ``grad_r`` (B, N). Fills ``grad_y`` (dL/dy_t, total), ``delta``
    (dL/da_t) and ``grad_pre`` (full: dL/d(W_out r_t + c)). Returns (dL/dr_0,
    dL/dv~ of the earliest sub-step, dL/dI of the earliest sub-step), (B, N) each."""
    steps, batch, n = delta.shape
    last = steps * substeps - 1
    grad_r_now = grad_r.copy()
    grad_vt = np.zeros((batch, n), dtype=delta.dtype)
    grad_in = np.zeros((batch, n), dtype=delta.dtype)
    for t in range(steps - 1, -1, -1):
        if t == steps - 1:
            grad_y[t] = grad_outputs[t]
        else:
            grad_y[t] = grad_outputs[t] + np.dot(delta[t + 1], weight)
        if full:
            grad_pre[t] = slopes[t] * grad_y[t]
            grad_r_now += np.dot(grad_pre[t], readout)
        else:
            grad_r_now += slopes[t] * grad_y[t]
        delta[t] = 0.0
        for k in range((t + 1) * substeps - 1, t * substeps - 1, -1):
            for b in range(batch):
                for j in range(n):
                    gvt = psi[k, b, j] * grad_r_now[b, j]
                    if k == last:  # the final state's own gradients
                        gvt += final_psi[b, j] * grad_z[b, j]
                        gvt += final_reset[b, j] * grad_v[b, j]
                        gin = gvt + grad_i[b, j]
                    else:
                        if subtract:
                            gvt += beta * grad_vt[b, j]
                        else:
                            gvt += reset[k, b, j] * grad_vt[b, j]
                        gin = gvt + alpha * grad_in[b, j]
                    grad_vt[b, j] = gvt
                    grad_in[b, j] = gin
                    delta[t, b, j] += gin
                    grad_r_now[b, j] *= kappa
        if substeps > 1:
            for b in range(batch):
                for j in range(n):
                    delta[t, b, j] /= substeps
    return grad_r_now, grad_vt, grad_in
