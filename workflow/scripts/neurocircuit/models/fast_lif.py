"""The torch backend of the classifier (``models.backend``): a recurrent LIF-with-synapse layer
with a hand-written backward pass through time, a sparse input projection for binary spike
inputs (``spike_projection``), and a leaky integrator for the readout.

The dynamics are those of the reference step ``dynamics.lif_syn.lif_syn_step`` (the equation
is in its module's docstring) from zero state, and of ``dynamics.readout.leaky_readout_step``;
the spike's surrogate derivative is SuperSpike's (``surrogates.SuperSpike``, whose reciprocal
``surrogates.superspike_denominator_`` computes in place).

The hand-written forward and backward cannot call that step function without losing their
speed (no autograd graph, in-place buffers), so tests/unit/test_fast_lif.py checks them against
it, unrolled under autograd: spikes, the membrane at every step and the gradients, over hundreds
of steps, for every trick below.

Why it is faster than unrolling the step function under autograd:

- no autograd graph: the forward loop writes into preallocated (T, B, N) buffers with four
  fused in-place ops per step plus the recurrent product; the backward loop is the adjoint
  recursion written out, step by step on (B, N) slices that stay in cache (no (T, B, N)
  temporaries besides the returned gradient; the surrogate's denominator is computed in place
  in the saved membrane, so the backward runs once per forward);
- the recurrent weight gradient is one matmul over all time steps after the loop instead of T
  small ones, or, while at most 10 % of the neuron-steps spike, a sum over the spikes only;
- the input projection of binary, sparse input spikes (2 % dense in SHD) is a gather-and-sum of
  weight rows (``embedding_bag``) over the active inputs only, forward and for the weight
  gradient, instead of two dense (T*B, inputs) x (inputs, N) products;
- the sparse routes pay on the CPU; on CUDA "auto" keeps the dense products (cuBLAS is faster
  there, and ``nonzero`` waits for the device).

Everything works on any device and floating dtype: the tensors' device decides.
"""

from __future__ import annotations

import torch

from neurocircuit.models.dynamics.common import check_reset
from neurocircuit.models.spike_projection import (  # noqa: F401 - re-exported
    METHODS,
    SPARSE_MAX_DENSITY,
    _exclusive_cumsum,
    _nonzero_entries,
    _sparse_transposed_product,
    _SpikeProjection,
    _sum_rows_by_column,
    spike_input_projection,
)
from neurocircuit.models.surrogates import superspike_denominator_


def _as_float(value, name: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


class _LIFSynRecurrent(torch.autograd.Function):
    """Forward loop without autograd bookkeeping; backward through time written by hand."""

    @staticmethod
    def forward(
        ctx,
        input_current: torch.Tensor,
        recurrent_weight: torch.Tensor | None,
        alpha: float,
        beta: float,
        threshold: float,
        subtract_reset: bool,
        surrogate_scale: float,
        sparse_grad: str | None,
    ) -> torch.Tensor:
        steps, batch, n = input_current.shape
        spikes = torch.empty(
            (steps, batch, n), dtype=input_current.dtype, device=input_current.device
        )
        membrane_pre = torch.empty_like(spikes)
        syn = input_current.new_zeros(batch, n)
        mem = input_current.new_zeros(batch, n)
        weight_t = None if recurrent_weight is None else recurrent_weight.t()  # (pre, post)
        previous = None
        for u_t, z_t, vpre_t in zip(
            input_current.unbind(0), spikes.unbind(0), membrane_pre.unbind(0), strict=True
        ):
            torch.add(u_t, syn, alpha=alpha, out=syn)
            if weight_t is not None and previous is not None:
                syn.addmm_(previous, weight_t)
            torch.add(syn, mem, alpha=beta, out=vpre_t)
            torch.gt(vpre_t, threshold, out=z_t)
            if subtract_reset:
                torch.add(vpre_t, z_t, alpha=-threshold, out=mem)
            else:
                torch.addcmul(vpre_t, vpre_t, z_t, value=-1.0, out=mem)
            previous = z_t
        ctx.save_for_backward(spikes, membrane_pre, recurrent_weight)
        ctx.params = (alpha, beta, threshold, subtract_reset, surrogate_scale, sparse_grad)
        ctx.consumed = False
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes: torch.Tensor):
        if ctx.consumed:
            raise RuntimeError(
                "lif_syn_recurrent's backward reuses its saved buffers and runs once per forward "
                "(backward with retain_graph=True through it twice is not supported)"
            )
        ctx.consumed = True
        spikes, membrane_pre, recurrent_weight = ctx.saved_tensors
        alpha, beta, threshold, subtract_reset, surrogate_scale, sparse_grad = ctx.params
        steps, batch, n = spikes.shape
        # Work step by step on (B, N) slices that stay in cache; no (T, B, N) temporaries
        # besides the returned gradient. Adjoint recursion, from t = T-1 down to 0:
        #   dz_t = dL/dz_t (direct) + grad_i_{t+1} @ V
        #   g_t  = dz_t / (scale |v~_t - theta| + 1)^2 + beta * g_{t+1} * dv_t/dv~_t
        #   grad_i_t = g_t + alpha * grad_i_{t+1}       (= dL/du_t)
        # with dv_t/dv~_t = 1 - z_t (reset "zero", reset detached) or 1 ("subtract").
        grad_current = torch.empty_like(spikes)
        recurrent = recurrent_weight is not None
        grad_z = spikes.new_empty(batch, n)
        g_now = spikes.new_empty(batch, n)
        g_next = spikes.new_zeros(batch, n)
        grad_next = None
        z = spikes.unbind(0)
        gz = grad_spikes.unbind(0)
        gi = grad_current.unbind(0)
        for t, square in zip(range(steps - 1, -1, -1), membrane_pre.unbind(0)[::-1], strict=True):
            # the surrogate's denominator, in place in the saved membrane (used once)
            superspike_denominator_(square, threshold, surrogate_scale)
            if recurrent and grad_next is not None:
                torch.addmm(gz[t], grad_next, recurrent_weight, out=grad_z)
                torch.div(grad_z, square, out=g_now)
            else:
                torch.div(gz[t], square, out=g_now)
            if grad_next is not None:
                if not subtract_reset:
                    g_next.addcmul_(g_next, z[t], value=-1.0)
                g_now.add_(g_next, alpha=beta)
                torch.add(g_now, grad_next, alpha=alpha, out=gi[t])
            else:
                gi[t].copy_(g_now)
            g_now, g_next = g_next, g_now
            grad_next = gi[t]
        grad_weight = None
        if recurrent and ctx.needs_input_grad[1]:
            if steps == 1:
                grad_weight = torch.zeros_like(recurrent_weight)
            else:
                # dV[post, pre] = sum_t,b grad_i_{t+1}[b, post] z_t[b, pre], all t at once
                grad_after = grad_current[1:].reshape(-1, n)
                earlier = spikes[:-1].reshape(-1, n)
                if sparse_grad:
                    grad_weight = _sparse_transposed_product(earlier, grad_after, sparse_grad)
                if grad_weight is None:
                    grad_weight = torch.mm(grad_after.t(), earlier)
        grad_input = grad_current if ctx.needs_input_grad[0] else None
        return grad_input, grad_weight, None, None, None, None, None, None


def lif_syn_recurrent(
    input_current: torch.Tensor,
    recurrent_weight: torch.Tensor | None,
    alpha: float,
    beta: float,
    threshold: float = 1.0,
    reset: str = "zero",
    surrogate_scale: float = 100.0,
    method: str = "auto",
) -> torch.Tensor:
    """Spikes of a (recurrent) layer of LIF neurons with synaptic current, from zero state.

    Args:
        input_current: (T, B, N) feed-forward current u_t (for example ``W_in x_t``), time-major.
        recurrent_weight: (N, N) recurrent weights V indexed [post, pre], or None for none.
        alpha: synaptic decay per step, exp(-dt / tau_syn), in [0, 1].
        beta: membrane decay per step, exp(-dt / tau_mem), in [0, 1].
        threshold: firing threshold theta (same units as the membrane, dimensionless here).
        reset: "zero" (v_t = v~_t (1 - z_t)) or "subtract" (v_t = v~_t - theta z_t).
        surrogate_scale: slope of the fast-sigmoid surrogate 1 / (scale |v~ - theta| + 1)^2.
        method: how the recurrent weight gradient sum_t grad_i_{t+1}^T z_t is formed: "dense"
            (one matmul over all T), "sparse" (sum over the spikes only), or "auto" (sparse on
            the CPU while at most 10 % of the entries are spikes, else dense; dense on CUDA).

    Returns:
        (T, B, N) spikes z_t in {0, 1}, dtype of ``input_current``, differentiable with respect
        to ``input_current`` and ``recurrent_weight`` (not the constants) through the surrogate.

    Equations (see the module docstring): i_t = alpha i_{t-1} + u_t + V z_{t-1};
    v~_t = beta v_{t-1} + i_t; z_t = H(v~_t - theta); reset detached. Same numbers as unrolling
    the plain step function under autograd, to float rounding, with much less time and memory.
    """
    if not isinstance(input_current, torch.Tensor) or input_current.dim() != 3:
        shape = tuple(getattr(input_current, "shape", ()))
        raise ValueError(f"input_current must be a (T, B, N) tensor, got shape {shape}")
    if not input_current.is_floating_point():
        raise ValueError(f"input_current must be floating point, got {input_current.dtype}")
    steps, _, n = input_current.shape
    if steps == 0:
        raise ValueError("input_current has no time steps (T = 0)")
    if recurrent_weight is not None:
        if tuple(recurrent_weight.shape) != (n, n):
            raise ValueError(
                f"recurrent_weight must be ({n}, {n}) [post, pre] for {n} neurons, "
                f"got shape {tuple(recurrent_weight.shape)}"
            )
        if (
            recurrent_weight.device != input_current.device
            or recurrent_weight.dtype != input_current.dtype
        ):
            raise ValueError(
                "recurrent_weight and input_current must share device and dtype, got "
                f"{recurrent_weight.device}/{recurrent_weight.dtype} and "
                f"{input_current.device}/{input_current.dtype}"
            )
    check_reset(reset)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    alpha = _as_float(alpha, "alpha")
    beta = _as_float(beta, "beta")
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} is a decay factor exp(-dt/tau) in [0, 1], got {value}")
    threshold = _as_float(threshold, "threshold")
    surrogate_scale = _as_float(surrogate_scale, "surrogate_scale")
    if surrogate_scale <= 0:
        raise ValueError(f"surrogate_scale must be positive, got {surrogate_scale}")
    return _LIFSynRecurrent.apply(
        input_current,
        recurrent_weight,
        alpha,
        beta,
        threshold,
        reset == "subtract",
        surrogate_scale,
        None if method == "dense" or (method == "auto" and input_current.is_cuda) else method,
    )


class _LeakyIntegrate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, decay):
        out = torch.empty_like(current, memory_format=torch.contiguous_format)
        previous = None
        for c_t, y_t in zip(current.unbind(0), out.unbind(0), strict=True):
            if previous is None:
                y_t.copy_(c_t)
            else:
                torch.add(c_t, previous, alpha=decay, out=y_t)
            previous = y_t
        ctx.decay = decay
        return out

    @staticmethod
    def backward(ctx, grad_out):
        grad = torch.empty_like(grad_out, memory_format=torch.contiguous_format)
        following = None
        for t in range(grad_out.shape[0] - 1, -1, -1):
            if following is None:
                grad[t].copy_(grad_out[t])
            else:
                torch.add(grad_out[t], following, alpha=ctx.decay, out=grad[t])
            following = grad[t]
        return grad, None


def leaky_integrate(current: torch.Tensor, decay: float) -> torch.Tensor:
    """Leaky integrator from zero state along the first (time) axis: y_t = decay y_{t-1} + c_t.

    Args:
        current: (T, ...) input per step, e.g. the readout current ``W_out z_t + b``.
        decay: per-step decay exp(-dt / tau) in [0, 1].

    Returns:
        (T, ...) y, differentiable with respect to ``current`` (one fused op per step, forward
        and backward, instead of an autograd graph of 2 T nodes).
    """
    if current.dim() < 1 or current.shape[0] == 0:
        raise ValueError(f"current must be (T, ...) with T >= 1, got {tuple(current.shape)}")
    decay = _as_float(decay, "decay")
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay is a factor exp(-dt/tau) in [0, 1], got {decay}")
    return _LeakyIntegrate.apply(current, decay)
