"""One frame of the spiking activity network: LIF neurons with synaptic current driven by the
fed-back output, their spikes low-pass filtered and read out through a sigmoid.

Per frame, with S sub-steps (``steps_per_frame``) and W [post, pre]:

    a_t = W y_{t-1} + b_in  (divided by S when S > 1), then S times
        i <- alpha i + a;  v~ = beta v + i;  z = H(v~ - theta);  reset (``lif_syn_step``)
        r <- kappa r + (1 - kappa) z                          (``lowpass_step``)
    y_t = sigmoid(g r + c) (diagonal readout) or sigmoid(W_out r + c) (full readout)

The reference step is ``spiking_activity_step``; its backends are ``models.fused_spiking``
(torch loops, bitwise the same outputs) and ``models.activity_kernels`` (compiled, CPU).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from neurocircuit.models.dynamics.lif_syn import LIFSynParams, LIFSynState, lif_syn_step
from neurocircuit.models.dynamics.readout import LowPassParams, LowPassState, lowpass_step


class SpikingActivityState(NamedTuple):
    """State of a ``SpikingActivityNetwork``: neurons, low-pass filter, last output (B, N)."""

    neuron: LIFSynState
    lowpass: LowPassState
    output: Tensor


class SpikingActivityParams(NamedTuple):
    """Parameters of one frame: ``neuron`` (``LIFSynParams``, no recurrent weight: W enters
    through the fed-back output), ``lowpass`` (``LowPassParams``), ``weight`` W (N, N) [post,
    pre], ``bias_current`` b_in (N,), ``readout_bias`` c (N,), and ``readout_gain`` g (N,)
    (diagonal readout) or ``readout_weight`` W_out (N, N) (full readout; the other None), and
    ``steps_per_frame`` S."""

    neuron: LIFSynParams
    lowpass: LowPassParams
    weight: Tensor
    bias_current: Tensor
    readout_bias: Tensor
    readout_gain: Tensor | None = None
    readout_weight: Tensor | None = None
    steps_per_frame: int = 1


def read_out(r: Tensor, params: SpikingActivityParams) -> Tensor:
    """Output y (B, N) in (0, 1) from filtered spikes r (B, N): sigmoid(g r + c) or
    sigmoid(W_out r + c)."""
    if params.readout_weight is None:
        return torch.sigmoid(params.readout_gain * r + params.readout_bias)
    return torch.sigmoid(F.linear(r, params.readout_weight, params.readout_bias))


def frame_current(output: Tensor, params: SpikingActivityParams) -> Tensor:
    """The current a_t (B, N) of every sub-step of the next frame: (W y_{t-1} + b_in) / S."""
    current = F.linear(output, params.weight) + params.bias_current
    if params.steps_per_frame > 1:
        current = current / params.steps_per_frame
    return current


def spiking_activity_step(
    input: None, state: SpikingActivityState, params: SpikingActivityParams
) -> tuple[Tensor, SpikingActivityState]:
    """One frame (the module docstring's equations) from ``state``; ``input`` must be None (the
    network is autonomous: its drive is its own output). Returns y_t (B, N) and the new state."""
    if input is not None:
        raise ValueError("the spiking activity network is autonomous: its drive must be None")
    current = frame_current(state.output, params)
    neuron, filtered = state.neuron, state.lowpass
    for _ in range(params.steps_per_frame):
        z, neuron = lif_syn_step(current, neuron, params.neuron)
        _, filtered = lowpass_step(z, filtered, params.lowpass)
    output = read_out(filtered.r, params)
    return output, SpikingActivityState(neuron, filtered, output)


def spiking_activity_initial_state(x0: Tensor, r0: Tensor) -> SpikingActivityState:
    """State at frame x0 (B, N) with filtered spikes r0 (B, N): v = i = z = 0, not refractory."""
    zeros = torch.zeros_like(x0)
    neuron = LIFSynState(zeros, zeros.clone(), zeros.clone(), zeros.clone())
    return SpikingActivityState(neuron, LowPassState(r0), x0)
