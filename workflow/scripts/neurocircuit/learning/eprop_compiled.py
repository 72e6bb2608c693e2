"""E-prop of the activity networks on the compiled backend (CPU, float32 or float64).

The forward pass is the compiled rollout of ``models.activity_kernels`` (the loop the fused
BPTT rollouts run); the eligibility traces and their products with the learning signal are the
factorised loops of ``learning.eprop_kernels``: per-unit terms filtered backward in time and
one matrix product over time (over frames) for each weight matrix, as in BPTT's weight
gradient. Same
gradients as the torch loops of ``learning.eprop_torch`` (the reference) to rounding
(tests/unit/test_eprop_parity.py).

Each function takes the detached effective parameters ``p`` (``effective_parameters()``),
the target (T, N), the step weights (T,) and the loss's normaliser N sum_t w_t, and returns
(loss, rollout (T, N), gradients of ``p`` by name).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from neurocircuit.learning import eprop_kernels
from neurocircuit.models import activity_kernels
from neurocircuit.models.surrogates import surrogate_derivative


def _array(tensor: Tensor) -> np.ndarray:
    """A C-contiguous NumPy array of a CPU tensor (a view when it already is one)."""
    return np.ascontiguousarray(tensor.detach().numpy())


def _loss_and_errors(prediction: Tensor, target: Tensor, weights: Tensor, norm: Tensor):
    """The weighted MSE of frames 1.. (frame 0 is the given start) and dE/dprediction (T-1, N)."""
    error = prediction - target[1:]
    w = weights[1:, None]
    loss = (w * error.square()).sum() / norm
    return loss, 2.0 * w * error / norm


def rate_gradients(p: dict, target: Tensor, weights: Tensor, norm: Tensor, neurotorch: bool):
    """E-prop of ``RateActivityNetwork`` (either Wilson–Cowan form), compiled."""
    steps, n = target.shape
    rates = target.new_empty(steps, 1, n)
    drive = target.new_empty(steps - 1, 1, n)
    sig = target.new_empty(steps - 1, 1, n)
    rates[0, 0].copy_(target[0])
    decay_or_step = p["dt_over_tau"] if neurotorch else p["decay"]
    transition = p["transition"] if neurotorch else decay_or_step
    activity_kernels.rate_forward(
        rates.numpy(), drive.numpy(), sig.numpy(), _array(p["weight"].t()), _array(decay_or_step),
        _array(p["gain"]), _array(p["threshold"]), _array(transition), neurotorch,
    )  # fmt: skip
    rollout = rates[:, 0]
    loss, signal = _loss_and_errors(rollout[1:], target, weights, norm)
    post = torch.empty_like(signal)
    names = ("dt_over_tau", "transition", "gain", "threshold") if neurotorch else (
        "decay", "gain", "threshold")  # fmt: skip
    unit_grads = target.new_empty(len(names), n)
    eprop_kernels.rate_unit_terms(
        post.numpy(), unit_grads.numpy(), _array(signal), rollout.numpy(), drive[:, 0].numpy(),
        sig[:, 0].numpy(), _array(decay_or_step), _array(p["gain"]), _array(transition), neurotorch,
    )  # fmt: skip
    grads = {"weight": post.t() @ rollout[:-1]}
    grads.update(zip(names, unit_grads.unbind(0), strict=True))
    return loss, rollout, grads


def _spiking_forward(model, p: dict, target: Tensor):
    """The compiled rollout from target[0]: outputs y (T, N), filtered spikes r at each frame's
    end (T, N), v~ and spikes of every sub-step (T S, N) (T counting frame 0)."""
    steps, n = target.shape
    substeps, full = model.steps_per_frame, model.readout == "full"
    state = model.initial_state(target[0:1])
    outputs, filtered = target.new_empty(steps, 1, n), target.new_empty(steps, 1, n)
    membrane = target.new_empty((steps - 1) * substeps, 1, n)
    spikes = torch.empty_like(membrane)
    outputs[0].copy_(state.output)
    filtered[0].copy_(state.lowpass.r)
    v, i = state.neuron.v.clone(), state.neuron.i.clone()
    readout = p["readout_weight"].t() if full else p["weight"]
    activity_kernels.spiking_forward(
        outputs.numpy(), filtered.numpy(), membrane.numpy(), spikes.numpy(), v.numpy(),
        i.numpy(), _array(p["weight"].t()), _array(p["bias_current"]), _array(readout),
        _array(p["bias_current"] if full else p["readout_gain"]), _array(p["readout_bias"]),
        model.alpha, model.beta, model.kappa, model.threshold, model.reset == "subtract",
        substeps, full,
    )  # fmt: skip
    return outputs[:, 0], filtered[:, 0], membrane[:, 0], spikes[:, 0]


def spiking_gradients(model, p: dict, target: Tensor, weights: Tensor, norm: Tensor,
                      back: Tensor | None):  # fmt: skip
    """E-prop of ``SpikingActivityNetwork``, compiled; ``back`` (N, N) carries the full
    readout's error to the units (W_out or a fixed random matrix; None: diagonal readout)."""
    outputs, filtered, membrane, spikes = _spiking_forward(model, p, target)
    y, r = outputs[1:], filtered[1:]
    loss, dy = _loss_and_errors(y, target, weights, norm)
    dy = dy * y * (1.0 - y)
    grads = {"readout_bias": dy.sum(0)}
    if back is None:
        signal = dy * p["readout_gain"]
        grads["readout_gain"] = (dy * r).sum(0)
    else:
        signal = dy @ back
        grads["readout_weight"] = dy.t() @ r
    params = model.neuron_params()
    psi = surrogate_derivative(
        membrane - params.threshold, params.surrogate, params.surrogate_scale, params.threshold
    )
    substeps = model.steps_per_frame
    terms = torch.empty_like(signal)
    eprop_kernels.spiking_input_terms(
        terms.numpy(), _array(psi), spikes.numpy(), _array(signal), model.alpha, model.beta,
        model.kappa, model.reset == "subtract", True, substeps,
    )  # fmt: skip
    inputs = outputs[:-1]  # y_{t-1} enters every sub-step of frame t as y_{t-1} / S
    if substeps > 1:
        terms = terms / substeps
    grads["weight"] = terms.t() @ inputs
    grads["bias_current"] = terms.sum(0)
    return loss, outputs, grads
