"""LIF neurons (membrane only): the reference step ``lif_step``.

    v~_t = beta v_{t-1} + input_t + V z_{t-1};  z_t = H(v~_t - theta);  reset (detached),

beta = exp(-dt / tau_mem); spike and reset as in ``dynamics.common``.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from neurocircuit.models.dynamics.common import _add_recurrent, _fire_and_reset, _zero_state


class LIFState(NamedTuple):
    """State of LIF neurons (membrane only), each (B, N).

    v: membrane potential after the reset; z: spikes of the last step (feed the recurrence);
    refractory: remaining refractory steps (0 = free to spike).
    """

    v: Tensor
    z: Tensor
    refractory: Tensor


class LIFParams(NamedTuple):
    """Parameters of LIF neurons.

    beta: membrane decay exp(-dt / tau_mem) (float or (N,) tensor); threshold: firing threshold;
    reset: "zero" | "subtract"; surrogate: "superspike" | "triangle"; surrogate_scale: its
    scale (SuperSpike steepness or triangle height); refractory_steps: spikes masked for this
    many steps after a spike; recurrent_weight: (N, N) [post, pre] or None.
    """

    beta: float | Tensor
    threshold: float = 1.0
    reset: str = "zero"
    surrogate: str = "superspike"
    surrogate_scale: float = 100.0
    refractory_steps: int = 0
    recurrent_weight: Tensor | None = None


def lif_initial_state(batch_size: int, n: int, *, device=None, dtype=None) -> LIFState:
    """Zero state (rest, no spikes, not refractory) for ``n`` LIF neurons."""
    return _zero_state(LIFState, batch_size, n, device, dtype)


def lif_step(input: Tensor, state: LIFState, params: LIFParams, *, return_distance: bool = False):
    """One step of LIF neurons (membrane only).

    v~_t = beta v_{t-1} + input_t + V z_{t-1};  z_t = H(v~_t - theta);  reset (detached).

    Args:
        input: (B, N) feed-forward drive W_in x_t.
        state: ``LIFState`` at t-1.
        params: ``LIFParams``.
        return_distance: also return v~_t - theta (B, N), for ``pseudo_derivative``.
    Returns:
        z_t (B, N) spikes in {0, 1} and the new ``LIFState`` [, the distance].
    """
    v_tilde = _add_recurrent(params.beta * state.v + input, state.z, params.recurrent_weight)
    distance = v_tilde - params.threshold
    z, v, refractory = _fire_and_reset(v_tilde, distance, state.refractory, params)
    new_state = LIFState(v, z, refractory)
    return (z, new_state, distance) if return_distance else (z, new_state)
