"""Fused rollouts of the activity networks (``models.activity``): the time loop without a
per-step autograd graph and a hand-written backward pass through time.

A fit iteration rolls a network of N units out over T frames (the zebrafish recording: 522
units, 619 steps) on its own output. Under autograd every step records a graph of small
element-wise nodes, so the time goes to per-step overhead rather than arithmetic. Here one
``torch.autograd.Function`` per network kind runs the whole rollout:

- forward: the recurrence in preallocated (T, B, N) buffers, no graph. Two kinds of time loop
  (the ``backend``): "compiled", the loops of ``activity_kernels``, compiled by numba
  (one OpenBLAS product and one fused pass over the units per step; outputs equal to the plain
  loop's to rounding; CPU), or "torch", loops with in-place ops whose arithmetic is the plain
  loop's,
  op for op (same products, same order, no fused multiply-add where the plain loop rounds
  twice), so their outputs and spikes are **bitwise identical** to the reference steps of
  ``models.dynamics`` run by the reference loop (the path CUDA takes);
- backward: the adjoint recursion in reverse, one vector-matrix product and a few in-place
  element-wise ops per step; every coefficient that does not depend on the adjoint (sigmoid
  slopes, surrogate derivatives, reset factors) is computed for all T at once before the
  loop, and every per-unit parameter gradient as one reduction after it;
- the weight gradient is one matrix product over the stacked trajectory,
  dL/dW = sum_t delta_t^T x_{t-1};
- the effective parameters (W with Dale's law and masks, decays, gains) come in as tensors
  computed once per rollout by the module, so their own autograd maps dL/dW_eff to the raw
  parameters (the Dale parametrization runs once per iteration, not once per step).


The equations are those of ``dynamics.wilson_cowan`` and ``dynamics.spiking_activity``; the
backends live in ``fused_rate`` (rate network) and ``fused_spiking`` (spiking network), whose
docstrings give the adjoint recursions. ``models.rollout`` runs them (``available_backends``
says where they can: float32 or float64 on the CPU or CUDA, the compiled loops on the CPU only,
no external drive). tests/unit/test_fast_activity.py and tests/unit/test_rollout_parity.py check,
for both kinds of loop, the outputs (torch loops bitwise, compiled loops to rounding; float32
and float64) and every gradient (float64, relative 1e-10) against the reference loop under
autograd, with and without Dale's law, for full and truncated BPTT (truncation is the caller's:
one fused rollout per window, the state detached between windows), including the gradients
into the start state and out of the final one. Second derivatives are not supported
(``once_differentiable``).

This module keeps the names the rest of the library imported from it.
"""

from neurocircuit.models.backend import FUSED_DEVICES, FUSED_DTYPES
from neurocircuit.models.fused_rate import (
    KERNELS,
    RATE_FORMS,
    _array,
    _compiled,
    _RateRollout,
    _stacked_product,
    _sum_units,
    rate_rollout,
)
from neurocircuit.models.fused_spiking import (
    _spiking_adjoint_compiled,
    _spiking_parameter_grads,
    _SpikingRollout,
    spiking_rollout,
)

__all__ = [
    "FUSED_DEVICES", "FUSED_DTYPES", "KERNELS", "RATE_FORMS", "_RateRollout", "_SpikingRollout",
    "_array", "_compiled", "_spiking_adjoint_compiled", "_spiking_parameter_grads",
    "_stacked_product", "_sum_units", "rate_rollout", "spiking_rollout",
]  # fmt: skip
