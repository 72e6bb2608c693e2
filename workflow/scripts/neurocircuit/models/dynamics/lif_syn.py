"""LIF neurons with synaptic current (SpyTorch's neuron) in two orders: ``lif_syn_step`` (the
library's, "default" discretisation) and ``lif_syn_spytorch_step`` (the order of SpyTorch's code).

    i_t = alpha i_{t-1} + input_t + V z_{t-1};  v~_t = beta v_{t-1} + i_t;
    z_t = H(v~_t - theta);  v_t = v~_t (1 - sg(z_t)) ("zero") or v~_t - theta sg(z_t) ("subtract")

alpha = exp(-dt / tau_syn), beta = exp(-dt / tau_mem). Its backends: ``models.fast_lif`` (torch,
hand-written backward, the classifier's layer) and, inside the spiking activity network,
``models.fused_spiking`` (torch) and ``models.activity_kernels`` (compiled).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from neurocircuit.models.dynamics.common import _add_recurrent, _fire_and_reset, _zero_state


class LIFSynState(NamedTuple):
    """State of LIF neurons with synaptic current, each (B, N): v, i (current), z, refractory."""

    v: Tensor
    i: Tensor
    z: Tensor
    refractory: Tensor


class LIFSynParams(NamedTuple):
    """Parameters of LIF neurons with synaptic current: ``LIFParams`` plus alpha.

    alpha: synaptic decay exp(-dt / tau_syn); the other fields as in ``LIFParams``.
    """

    alpha: float | Tensor
    beta: float | Tensor
    threshold: float = 1.0
    reset: str = "zero"
    surrogate: str = "superspike"
    surrogate_scale: float = 100.0
    refractory_steps: int = 0
    recurrent_weight: Tensor | None = None


def lif_syn_initial_state(batch_size: int, n: int, *, device=None, dtype=None) -> LIFSynState:
    """Zero state for ``n`` LIF neurons with synaptic current."""
    return _zero_state(LIFSynState, batch_size, n, device, dtype)


def lif_syn_step(
    input: Tensor, state: LIFSynState, params: LIFSynParams, *, return_distance: bool = False
):
    """One step of LIF neurons with synaptic current (SpyTorch's neuron, "default" discretisation).

    i_t = alpha i_{t-1} + input_t + V z_{t-1};  v~_t = beta v_{t-1} + i_t;
    z_t = H(v~_t - theta);  reset (detached).

    The membrane integrates the new current and spikes on the updated membrane, so an input
    can make a spike in its own step. This is the library's LIF-with-synapse step: the
    classifier's and the activity network's loops and e-prop run it; the fused kernel
    ``fast_lif.lif_syn_recurrent`` is tested against it (tests/unit/test_fast_lif.py).
    ``lif_syn_spytorch_step`` is the same neuron in the order of SpyTorch's code.

    Args:
        input: (B, N) feed-forward drive W_in x_t.
        state: ``LIFSynState`` at t-1.
        params: ``LIFSynParams``.
        return_distance: also return v~_t - theta (B, N), for ``pseudo_derivative``.
    Returns:
        z_t (B, N) and the new ``LIFSynState`` [, the distance].
    """
    i = _add_recurrent(params.alpha * state.i + input, state.z, params.recurrent_weight)
    v_tilde = params.beta * state.v + i
    distance = v_tilde - params.threshold
    z, v, refractory = _fire_and_reset(v_tilde, distance, state.refractory, params)
    new_state = LIFSynState(v, i, z, refractory)
    return (z, new_state, distance) if return_distance else (z, new_state)


def lif_syn_spytorch_step(
    input: Tensor, state: LIFSynState, params: LIFSynParams, *, return_distance: bool = False
):
    """One step of LIF neurons with synaptic current in the order of SpyTorch's code ("spytorch"
    discretisation; Zenke's SpyTorch tutorials, ``run_snn``).

    z_t = H(v_{t-1} - theta);  i_t = alpha i_{t-1} + input_t + V z_{t-1};
    v_t = (beta v_{t-1} + i_{t-1}) (1 - sg(z_t))   reset "zero"
    v_t = beta v_{t-1} + i_{t-1} - theta sg(z_t)    reset "subtract"   (sg: stop-gradient)

    Two differences from ``lif_syn_step``: the membrane integrates the *previous* current
    i_{t-1}, and the spike is read from the membrane before this step's update, v_{t-1} (not yet
    reset: the reset of that spike acts on the updated membrane v_t). An input at step t
    reaches the membrane at t+1 and can make a spike at t+2 at the earliest (at t in
    ``lif_syn_step``). The recurrent spikes z_{t-1} enter the current, as in SpyTorch's
    tutorial 4. Refractoriness as in ``lif_syn_step``. The fused ``fast_lif`` kernel does not
    implement this order (the classifier runs this step in its plain loop).

    Args:
        input: (B, N) feed-forward drive W_in x_t.
        state: ``LIFSynState`` at t-1 (v: the membrane v_{t-1} after its reset, i: i_{t-1},
            z: z_{t-1}).
        params: ``LIFSynParams``.
        return_distance: also return v_{t-1} - theta (B, N), the surrogate's argument.
    Returns:
        z_t (B, N) and the new ``LIFSynState`` [, the distance].
    """
    distance = state.v - params.threshold
    v_tilde = params.beta * state.v + state.i
    z, v, refractory = _fire_and_reset(v_tilde, distance, state.refractory, params)
    i = _add_recurrent(params.alpha * state.i + input, state.z, params.recurrent_weight)
    new_state = LIFSynState(v, i, z, refractory)
    return (z, new_state, distance) if return_distance else (z, new_state)
