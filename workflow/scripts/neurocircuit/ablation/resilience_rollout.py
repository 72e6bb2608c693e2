"""One rollout of a fitted activity network for a whole batch of ablated recurrent matrices.

Ablating with per-repeat masks needs a different recurrent matrix W_b (N, N) for every batch
element b. The networks' own rollouts (``models.rollout``: reference step loop, fused torch loops,
compiled kernels) share one W across the batch, so a batched W cannot go through them. This
module runs the networks' own step functions (``models.dynamics``) with the coupling computed
outside them, one batched product per frame, ``c_b = W_b x_b`` (``torch.bmm``), plus an optional
constant input per element and unit (the mean-drive control, see :mod:`.resilience`):

- rate (both Wilson–Cowan forms): the step is called with ``recurrent_weight=None`` and the
  coupling as its external input, so it computes sigmoid(g (W_b r_{t-1} + shift_b) - b) exactly
  as ``wilson_cowan_step`` / ``wilson_cowan_neurotorch_step`` do with W_b inside;
- spiking: one frame of ``dynamics.spiking_activity`` (current (W_b y_{t-1} + b_in + shift_b) / S,
  S sub-steps of ``lif_syn_step`` and ``lowpass_step``, then the readout), the frame function
  restated here because ``spiking_activity_step`` takes W from its parameters. The full readout's
  W_out is left intact (only the recurrent N x N matrix is ablated, as in NeuroTorch's protocol).

The result equals the network's own rollout with ``set_connection_mask`` per element (tested to
1e-6 in float64 against the compiled kernels, tests/unit/test_resilience.py). Cost: the same
multiply-adds as B separate rollouts (each element has its own W, so nothing is shared), minus
B - 1 times the Python and kernel-launch overhead per frame, plus streaming B matrices through
memory at every frame. On the CPU the networks' compiled kernels, one element at a time
(:func:`looped_rollout`, which also applies the mean-drive control literally, as a shifted
threshold or bias current), are faster (1.3-2x on the 71-neuron demo); the batch is for CUDA.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor

from neurocircuit.models.dynamics.lif_syn import lif_syn_step
from neurocircuit.models.dynamics.readout import lowpass_step
from neurocircuit.models.dynamics.spiking_activity import read_out


def network_copy(model, dtype: torch.dtype = torch.float64, device="cpu"):
    """A detached copy of ``model`` in ``dtype`` on ``device`` with its connection mask reset to
    all ones (the intact network), so the caller's network is never modified."""
    net = copy.deepcopy(model).to(device=device, dtype=dtype)
    net.set_connection_mask(torch.ones(net.n_units, net.n_units, dtype=dtype))
    net.eval()
    return net


def intact_weight(net) -> Tensor:
    """W (N, N) [post, pre] as the dynamics use it (Dale's law and the structural mask applied),
    detached."""
    with torch.no_grad():
        return net.effective_recurrent_weight().detach().clone()


def batched_rollout(net, x0: np.ndarray, n_frames: int, weights: Tensor, shift=None) -> np.ndarray:
    """(n_frames, B, N) rollout of ``net`` (a :func:`network_copy`) from frame ``x0`` (N,) in
    [0, 1], batch element b coupled through ``weights[b]`` (B, N, N) [post, pre], plus the
    constant input ``shift`` (B, N) (None: none) added to every unit's recurrent input at every
    step. Row 0 is ``x0`` itself, row k the prediction of frame k, as in ``fitted.rollout``."""
    from neurocircuit.models.activity import SpikingActivityNetwork

    if weights.dim() != 3 or tuple(weights.shape[1:]) != (net.n_units, net.n_units):
        raise ValueError(
            f"resilience: weights must have shape (B, {net.n_units}, {net.n_units}), "
            f"got {tuple(weights.shape)}"
        )
    reference = intact_weight(net)
    weights = weights.to(reference)
    batch = weights.shape[0]
    start = torch.as_tensor(np.clip(x0, 0.0, 1.0)).to(reference).expand(batch, -1).contiguous()
    shift = None if shift is None else torch.as_tensor(shift).to(reference)
    with torch.no_grad():
        if isinstance(net, SpikingActivityNetwork):
            frames = _spiking_frames(net, start, int(n_frames), weights, shift)
        else:
            frames = _rate_frames(net, start, int(n_frames), weights, shift)
    return torch.stack(frames).cpu().numpy().astype(np.float64)


def looped_rollout(net, x0: np.ndarray, n_frames: int, masks: Tensor, shift=None) -> np.ndarray:
    """What :func:`batched_rollout` computes for ``weights = W * masks``, one element at a time
    through the network's own rollout (its ``backend``: compiled kernels on the CPU): the mask
    set with ``set_connection_mask``, and ``shift`` (B, N) given as a threshold b - g shift
    (rate) or a bias current b_in + shift (spiking). ``net`` (a :func:`network_copy`) is
    restored afterwards. Not for the spiking full readout, whose W_out the connection mask
    would remove too."""
    from neurocircuit.models.activity import SpikingActivityNetwork
    from neurocircuit.models.fitted import rollout

    spiking = isinstance(net, SpikingActivityNetwork)
    if spiking and net.readout == "full":
        raise ValueError("resilience: looped rollouts would ablate the full readout's W_out too")
    bias = net.bias_current if spiking else net.threshold
    original = bias.detach().clone()
    scale = torch.ones_like(original) if spiking else -net.gain().detach()
    frames = []
    try:
        for b in range(masks.shape[0]):
            net.set_connection_mask(masks[b])
            with torch.no_grad():
                bias.copy_(original if shift is None else original + scale * shift[b].to(bias))
            frames.append(rollout(net, x0, n_frames))
    finally:
        net.set_connection_mask(torch.ones_like(masks[0]))
        with torch.no_grad():
            bias.copy_(original)
    return np.stack(frames, axis=1)


def _coupling(weights: Tensor, activity: Tensor, shift) -> Tensor:
    """W_b x_b (+ shift_b) for every batch element: (B, N)."""
    coupling = torch.bmm(weights, activity.unsqueeze(-1)).squeeze(-1)
    return coupling if shift is None else coupling + shift


def _rate_frames(net, start: Tensor, n_frames: int, weights: Tensor, shift) -> list[Tensor]:
    """Frames of a rate network: its step function with the batched coupling as input."""
    params = net.step_params()._replace(recurrent_weight=None)
    step = net.step_function()
    state = net.initial_state(start)
    frames = [start]
    for _ in range(n_frames - 1):
        rates, state = step(_coupling(weights, state.r, shift), state, params)
        frames.append(rates)
    return frames


def _spiking_frames(net, start: Tensor, n_frames: int, weights: Tensor, shift) -> list[Tensor]:
    """Frames of a spiking network: ``dynamics.spiking_activity``'s frame with the batched
    coupling (its equations; see that module)."""
    params = net.frame_params()
    state = net.initial_state(start)
    neuron, filtered, output = state.neuron, state.lowpass, state.output
    frames = [start]
    for _ in range(n_frames - 1):
        current = _coupling(weights, output, shift) + params.bias_current
        if params.steps_per_frame > 1:
            current = current / params.steps_per_frame
        for _ in range(params.steps_per_frame):
            z, neuron = lif_syn_step(current, neuron, params.neuron)
            _, filtered = lowpass_step(z, filtered, params.lowpass)
        output = read_out(filtered.r, params)
        frames.append(output)
    return frames
