"""Compiled (numba, CPU) loops of e-prop (``learning.eprop_compiled`` for the activity
networks, ``learning.eprop_classifier`` for the classifier without adaptation).

There every eligibility trace factorises into a presynaptic filter, the same for every
postsynaptic unit, times a postsynaptic term, and every learning signal is known once the
forward pass has run. So instead of carrying (N, N) traces forward, each unit's terms are
filtered backward in time (per-unit scalar recursions: the adjoint of BPTT without the paths
between units), and each weight gradient is one matrix product over time,
dE/dW = sum_t G_t^T input_t, as in BPTT (done by the caller). These loops make one pass over
the units per step.

Rate, both forms (``eprop_torch.rate_default_gradients`` gives the traces): with leak_t the
unit's own dr_t/dr_{t-1} (d, or (1 - h) - h c s_t) and L_t the learning signal,
Lambda_t = L_t + leak_{t+1} Lambda_{t+1}, and sum_t L_t e_t = sum_t Lambda_t (direct term)_t;
the input of W is r_{t-1} itself.

Spiking (LIF with or without synaptic current, S sub-steps per input frame, low-pass filter
kappa of the activity network, kappa = 0 for the classifier): the input p reaches the
membrane through the presynaptic filters I_k = alpha I_{k-1} + p_k, V_k = beta V_{k-1} + I_k;
the unit's term is post_k = (1 - kappa) psi_k Lambda_k with Lambda_k = kappa Lambda_{k+1}
(+ L_t at the last sub-step of frame t). The "zero" reset clears a unit's membrane trace at
each of its spikes: then its trace is V_k - beta^(k - s) V_s (s its last spike before k), so
the unit's term at a spike s also carries -sum_{k in (s, s']} beta^(k - s) (1 - kappa) psi_k
Lambda_k (s' the next spike), one more scalar recursion backward. sum_k post_k V_k is then
sum_k G_k p_k with G the adjoint of the presynaptic filters applied to post, and with p held
over each frame, sum over frames of (G summed over the frame) p.

Arrays are C-contiguous NumPy views of torch tensors, (T, M) per frame or step and (T S, M)
per sub-step, M the units (times the batch); scalars are Python floats. Compiled once per
dtype, cached on disk."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def rate_unit_terms(post, unit_grads, signal, rates, drive, sig, decay_or_step, gain, transition,
                    neurotorch):  # fmt: skip
    """Backward filter of the rate network's learning signals, in place.

    In: ``signal`` L (T, N); ``rates`` (T + 1, N) with rates[0] the start; ``drive`` u_t and
    ``sig`` s_t (T, N) from ``activity_kernels.rate_forward``; ``decay_or_step`` d (default form)
    or h (neurotorch form), ``gain``, ``transition`` (N,). Fills ``post`` (T, N) with
    Lambda_t g dr_t/d(g u_t) (dE/dW = post^T rates[:-1]) and ``unit_grads`` with the gradients
    of (decay, gain, threshold) (default form, (3, N)) or (dt_over_tau, transition, gain,
    threshold) (neurotorch form, (4, N)).
    """
    steps, n = signal.shape
    for j in range(n):
        lam = 0.0
        next_leak = 0.0
        g_leak = g_c = g_gain = g_theta = 0.0
        for t in range(steps - 1, -1, -1):
            lam = signal[t, j] + next_leak * lam
            s = sig[t, j]
            x = rates[t, j]
            if neurotorch:
                h = decay_or_step[j]
                gate = 1.0 - transition[j] * x
                slope = h * gate * s * (1.0 - s)
                next_leak = (1.0 - h) - h * transition[j] * s
                g_leak += lam * (gate * s - x)
                g_c -= lam * h * x * s
            else:
                d = decay_or_step[j]
                slope = (1.0 - d) * (s * (1.0 - s))
                next_leak = d
                g_leak += lam * (x - s)
            post[t, j] = lam * slope * gain[j]
            g_gain += lam * slope * drive[t, j]
            g_theta -= lam * slope
        unit_grads[0, j] = g_leak
        if neurotorch:
            unit_grads[1, j] = g_c
        unit_grads[unit_grads.shape[0] - 2, j] = g_gain
        unit_grads[unit_grads.shape[0] - 1, j] = g_theta


@njit(cache=True)
def spiking_input_terms(
    frame_terms, psi, spikes, signal, alpha, beta, kappa, subtract, synaptic, substeps
):  # fmt: skip
    """Spiking units' e-prop terms in place, backward over the sub-steps, one pass per step.

    ``frame_terms`` (T, M) gets, for each unit m and each block of ``substeps`` sub-steps (a
    frame, or one step when ``substeps`` is 1), G_k summed over the block: the gradient of a
    weight into unit m from an input p is sum_k G_k p_k, so with inputs held over a block,
    dE/dW = frame_terms^T inputs (one product over blocks). G_k is the unit's term
    post_k = (1 - kappa) psi_k Lambda_k (minus the "zero" reset's correction at its spikes)
    filtered backward through the presynaptic current and membrane filters (the adjoint of
    I_k = alpha I_{k-1} + p_k, V_k = beta V_{k-1} + I_k; without ``synaptic``, V_k =
    beta V_{k-1} + p_k). Lambda_k = kappa Lambda_{k+1} + L at a block's last sub-step.

    In: ``psi`` and ``spikes`` (T S, M), ``signal`` L (T, M); kappa 0 leaves psi_k L_k.
    """
    total, n = psi.shape
    lam = np.zeros(n, dtype=np.float64)
    after = np.zeros(n, dtype=np.float64)  # sum of beta^(.) post over the sub-steps after k
    g_membrane = np.zeros(n, dtype=np.float64)  # up to the unit's next spike ("zero" reset)
    g_current = np.zeros(n, dtype=np.float64)
    frame_terms[:] = 0.0
    for k in range(total - 1, -1, -1):
        frame = k // substeps
        last = (k + 1) % substeps == 0
        for j in range(n):
            lam[j] *= kappa
            if last:
                lam[j] += signal[frame, j]
            direct = (1.0 - kappa) * psi[k, j] * lam[j]
            post = direct
            if not subtract:
                z = spikes[k, j]
                post = direct - z * after[j]
                after[j] = beta * (direct + (1.0 - z) * after[j])
            g_membrane[j] = post + beta * g_membrane[j]
            if synaptic:
                g_current[j] = g_membrane[j] + alpha * g_current[j]
            else:
                g_current[j] = g_membrane[j]
            frame_terms[frame, j] += g_current[j]
