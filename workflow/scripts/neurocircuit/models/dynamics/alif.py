"""Adaptive LIF neurons, the ALIF of e-prop (Bellec et al. 2020): the reference step ``alif_step``.

a_t = rho a_{t-1} + z_{t-1};  A_t = theta + beta_a a_t;
v~_t = beta v_{t-1} + input_t + V z_{t-1};  z_t = H(v~_t - A_t);  reset by theta (detached)
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from neurocircuit.models.dynamics.common import _add_recurrent, _fire_and_reset, _zero_state


class ALIFState(NamedTuple):
    """State of adaptive LIF neurons, each (B, N): v, a (adaptation), z, refractory."""

    v: Tensor
    a: Tensor
    z: Tensor
    refractory: Tensor


class ALIFParams(NamedTuple):
    """Parameters of adaptive LIF neurons: e-prop's ALIF (Bellec et al. 2020), see ``alif_step``.

    beta: membrane decay; rho: adaptation decay exp(-dt / tau_adapt); adapt_strength: beta_a,
    the threshold increase per unit of adaptation (per spike, since a_t = rho a_{t-1} + z_{t-1}
    has no (1 - rho) factor); the other fields as in ``LIFParams`` (``threshold`` is the
    baseline threshold theta).
    """

    beta: float | Tensor
    rho: float | Tensor
    adapt_strength: float = 0.07
    threshold: float = 1.0
    reset: str = "zero"
    surrogate: str = "superspike"
    surrogate_scale: float = 100.0
    refractory_steps: int = 0
    recurrent_weight: Tensor | None = None


def alif_initial_state(batch_size: int, n: int, *, device=None, dtype=None) -> ALIFState:
    """Zero state (no adaptation) for ``n`` adaptive LIF neurons."""
    return _zero_state(ALIFState, batch_size, n, device, dtype)


def alif_step(
    input: Tensor, state: ALIFState, params: ALIFParams, *, return_distance: bool = False
):
    """One step of adaptive LIF neurons: the ALIF of e-prop (Bellec et al. 2020, Methods).

    a_t = rho a_{t-1} + z_{t-1};  A_t = theta + beta_a a_t;
    v~_t = beta v_{t-1} + input_t + V z_{t-1};  z_t = H(v~_t - A_t);
    v_t = v~_t - theta sg(z_t) ("subtract", by the baseline threshold) or v~_t (1 - sg(z_t))
    ("zero"). The adaptation is not detached: gradients flow through z_{t-1} -> a_t.

    Which ALIF: e-prop's increment a_t = rho a_{t-1} + z_{t-1} (the LSNN of Bellec et al. 2018
    adds a factor (1 - rho) to it: b_t = rho b_{t-1} + (1 - rho) z_{t-1}, so its beta is this
    beta_a / (1 - rho)). One difference from e-prop's equations: the reset is applied to the
    membrane after the spike, so it decays with beta before the next step (v~_t gets
    -beta theta z_{t-1}); e-prop writes v_t = alpha v_{t-1} + ... - theta z_{t-1}, undecayed.

    Args:
        input: (B, N) feed-forward drive W_in x_t.
        state: ``ALIFState`` at t-1.
        params: ``ALIFParams``.
        return_distance: also return v~_t - A_t (B, N), for ``pseudo_derivative``.
    Returns:
        z_t (B, N) and the new ``ALIFState`` [, the distance].
    """
    a = params.rho * state.a + state.z
    adaptive_threshold = params.threshold + params.adapt_strength * a
    v_tilde = _add_recurrent(params.beta * state.v + input, state.z, params.recurrent_weight)
    distance = v_tilde - adaptive_threshold
    z, v, refractory = _fire_and_reset(v_tilde, distance, state.refractory, params)
    new_state = ALIFState(v, a, z, refractory)
    return (z, new_state, distance) if return_distance else (z, new_state)
