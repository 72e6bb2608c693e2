"""What every dynamics shares: exact decays, the reset, and the end of every spiking step.

Conventions of ``models.dynamics`` (one module per dynamics, each holding its reference step):

- Tensors are time-major: a sequence is (T, B, N); one step works on (B, N) tensors.
- A step is a pure function ``(input, state, params) -> (output, new_state)``; ``input`` is the
  feed-forward drive already projected onto the neurons (for example ``W_in x_t``); an optional
  recurrent weight V ([post, pre], (N, N)) in ``params`` adds ``V z_{t-1}`` from the spikes
  kept in the state.
- Decays are exact exponentials of the time step: alpha = exp(-dt / tau_syn),
  beta = exp(-dt / tau_mem), rho = exp(-dt / tau_adapt), kappa = exp(-dt / tau_out).
  ``decay(dt, tau)`` computes them.
- Spikes are z = H(v~ - threshold) with a surrogate gradient (``models.surrogates``); the reset
  uses the detached spike (sg = stop-gradient), as in SpyTorch and e-prop:
  "zero": v = v~ (1 - sg(z)), "subtract": v = v~ - threshold sg(z).
- Refractory period (optional, in steps): after a spike a neuron cannot spike for
  ``refractory_steps`` steps (its spike, and so its surrogate gradient, is masked); its membrane
  keeps integrating (Bellec et al. 2020).
- The spiking steps share their end (spike, refractory mask, reset: ``_fire_and_reset``); with
  ``return_distance=True`` they also return v~ - A, from which ``pseudo_derivative`` gives
  e-prop the surrogate's dz/dv~.

States are NamedTuples of (B, N) tensors; ``*_initial_state`` helpers give the zero state.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from neurocircuit.models.surrogates import spike, surrogate_derivative

RESETS = ("zero", "subtract")


def decay(dt: float, tau: float) -> float:
    """Exact per-step decay factor exp(-dt / tau) (same time unit for both, e.g. ms)."""
    if not tau > 0:
        raise ValueError(f"time constant tau must be positive, got {tau}")
    if not dt > 0:
        raise ValueError(f"time step dt must be positive, got {dt}")
    return math.exp(-dt / tau)


def check_reset(reset: str) -> str:
    """Return ``reset`` if known ("zero" or "subtract"), else raise a clear ValueError."""
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    return reset


def _zeros(batch_size: int, n: int, like: Tensor | None, device=None, dtype=None) -> Tensor:
    if like is not None:
        device = like.device if device is None else device
        dtype = like.dtype if dtype is None else dtype
    return torch.zeros(batch_size, n, device=device, dtype=dtype or torch.get_default_dtype())


def _zero_state(state_type, batch_size: int, n: int, device=None, dtype=None):
    """A ``state_type`` (a NamedTuple of (B, N) tensors) with every field zero, each its own
    tensor: the ``*_initial_state`` of the spiking neurons."""
    z = _zeros(batch_size, n, None, device, dtype)
    return state_type(z, *(z.clone() for _ in state_type._fields[1:]))


def _add_recurrent(drive: Tensor, z_previous: Tensor, recurrent_weight: Tensor | None) -> Tensor:
    """``drive + V z_{t-1}`` (``drive`` itself without a recurrent weight V [post, pre])."""
    if recurrent_weight is None:
        return drive
    return drive + z_previous @ recurrent_weight.t()


def _fire_and_reset(
    v_tilde: Tensor, distance: Tensor, refractory: Tensor, params
) -> tuple[Tensor, Tensor, Tensor]:
    """Spikes, membrane after the reset and refractory counts: the end of every spiking step.

    Args:
        v_tilde: (B, N) membrane before the spike.
        distance: (B, N) v~ - A, the surrogate's argument (A: the threshold, adaptive for ALIF).
        refractory: (B, N) remaining refractory steps before this step.
        params: ``LIFParams``, ``LIFSynParams`` or ``ALIFParams`` (threshold, reset,
            surrogate, surrogate_scale, refractory_steps). The reset uses the baseline threshold.
    Returns:
        z (B, N) spikes (masked while refractory), v (B, N) after the detached reset, and the
        new refractory counts.
    """
    z = spike(distance, params.surrogate, params.surrogate_scale, params.threshold)
    if params.refractory_steps > 0:
        z = z * (refractory <= 0).to(z.dtype)
        refractory = torch.where(
            z.detach() > 0,
            torch.full_like(refractory, float(params.refractory_steps)),
            (refractory - 1.0).clamp(min=0.0),
        )
    detached = z.detach()
    if params.reset == "zero":
        v = v_tilde * (1.0 - detached)
    elif params.reset == "subtract":
        v = v_tilde - params.threshold * detached
    else:
        raise ValueError(f"reset must be one of {RESETS}, got {params.reset!r}")
    return z, v, refractory


def pseudo_derivative(distance: Tensor, refractory: Tensor, params) -> Tensor:
    """dz_t / d(v~_t - A_t) of a step's spike as a plain tensor (B, N), for e-prop.

    The surrogate's derivative at ``distance`` (returned by a step with
    ``return_distance=True``), zero where the neuron was refractory: ``refractory`` is the
    count in the state *before* the step. ``params`` as in ``_fire_and_reset``.
    """
    psi = surrogate_derivative(distance, params.surrogate, params.surrogate_scale, params.threshold)
    if params.refractory_steps > 0:
        psi = psi * (refractory <= 0).to(psi.dtype)
    return psi
