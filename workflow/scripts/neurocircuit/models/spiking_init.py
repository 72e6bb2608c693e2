"""Spiking units that fire on any recording: bias currents, readout and surrogate width from data.

A ``SpikingActivityNetwork`` with fixed starting values (bias current 0.1, threshold 1) is silent
on a recording whose recurrent input W y stays far below threshold: no spike, no surrogate
gradient, a fit that stays at the time-mean. ``initialise_spiking_from_data`` sets, per unit,

- the bias current b_in so that under its mean input (b_in plus its recurrent input W m at the
  data's mean m) the unit fires a spike every P sub-steps, P = max(2, S) with S the sub-steps
  per frame: about one spike a frame, low on the rate curve, where its steps between
  consecutive periods are narrow and the rate follows the input (in the middle of the widest
  window, a spike every 2 sub-steps, the rate ignores the input: on the demo's recording, S = 5,
  1,000 BPTT iterations reached pVar 0.13 with P = 2, 0.19 with 3, 0.34 with 5, 0.18 with 8);
- the readout gain g so that the filtered rate's range [0, 1] spans the data's range in logit
  units, logit(q_hi) - logit(q_lo) (quantiles of the unit's recorded activity), and the readout
  offset c so that the unit's mean filtered rate in a rollout of the initial network reads out
  as its mean m;
- the SuperSpike surrogate's scale (steepness) so that the membrane's median distance to
  threshold in that rollout, d, sits at the edge of its sensitive range: scale = 1 / d (the
  pseudo-derivative is 1/4 there, above it for half of the sub-steps).

The rate curve inverted (``lif_syn_step`` with reset to zero, a constant input a per sub-step):
the synaptic current settles at I = a / (1 - alpha); after a spike the membrane restarts at 0 and
reaches v_k = I sum_{j<k} beta^j = I (1 - beta^k) / (1 - beta) after k sub-steps, so the unit
fires every k sub-steps for I in (I_k, I_{k-1}], I_k = theta (1 - beta) / (1 - beta^k)
(I_1 = theta, I_inf = theta (1 - beta)). The rule takes the middle of that window. The frame's
input W y + b_in is divided among S sub-steps, so a = (W m + b_in) / S and
b_in = S (1 - alpha) I - W m. With reset "subtract" a unit keeps its excess and fires at least
as often.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from neurocircuit.models.dynamics.lif_syn import lif_syn_step
from neurocircuit.models.dynamics.readout import lowpass_step
from neurocircuit.models.dynamics.spiking_activity import frame_current, read_out

SPIKING_INITS = ("data", "fixed")
"""``network.spiking.init``: data (this module's rule) or fixed (the constructor's values)."""
RANGE_QUANTILES = (0.01, 0.99)
MAX_DISTANCES = 1_000_000
LEVEL_CLIP = 0.01
"""Levels are clipped into [LEVEL_CLIP, 1 - LEVEL_CLIP] before their logit."""


def check_spiking_init(value: str) -> str:
    """``value`` if it is one of :data:`SPIKING_INITS`, else a ValueError naming them."""
    if value not in SPIKING_INITS:
        raise ValueError(f"network.spiking.init must be one of {SPIKING_INITS}, got {value!r}")
    return value


def threshold_current(period: float, beta: float, threshold: float) -> float:
    """I_k: the steady synaptic current above which a unit with reset to zero fires at least
    every ``period`` (k) sub-steps, theta (1 - beta) / (1 - beta^k) (theta / k when beta = 1)."""
    if beta >= 1.0:
        return threshold / period
    return threshold * (1.0 - beta) / (1.0 - beta**period)


def spike_period(current: float, beta: float, threshold: float) -> float:
    """Sub-steps between spikes (k) of a unit with reset to zero under a constant synaptic
    current I: the smallest k with I (1 - beta^k) / (1 - beta) > theta; inf if never."""
    k = 1
    while current * sum(beta**j for j in range(k)) <= threshold:
        if k > 10_000 or current <= 0:
            return float("inf")
        k += 1
    return float(k)


def target_current(period: int, beta: float, threshold: float) -> float:
    """The steady synaptic current in the middle of the window (I_k, I_{k-1}] in which a unit
    fires every ``period`` = k >= 2 sub-steps."""
    if int(period) != period or period < 2:
        raise ValueError(f"target period must be an integer of at least 2 sub-steps, got {period}")
    return 0.5 * (
        threshold_current(period, beta, threshold) + threshold_current(period - 1, beta, threshold)
    )


class SpikingProbe(NamedTuple):
    """What a rollout of a spiking network did, per unit (N,): ``rate`` (spikes per sub-step),
    ``filtered`` (mean filtered rate r at the frames' ends), and ``distance`` (median |v~ -
    theta| over the units and sub-steps, a scalar)."""

    rate: np.ndarray
    filtered: np.ndarray
    distance: float


def probe_rollout(model, x0, n_frames: int) -> SpikingProbe:
    """Roll ``model`` (a ``SpikingActivityNetwork``) out from frame ``x0`` (N,) for ``n_frames``
    frames (x0 included, as ``fitted.rollout``) on the reference step, recording spikes,
    filtered rates and the membrane's distance to threshold (no gradient; the distance's median
    over at most about :data:`MAX_DISTANCES` values, every sub-step's up to that many)."""
    reference = next(model.parameters())
    n_steps = max(1, (int(n_frames) - 1) * model.steps_per_frame)
    stride = max(1, n_steps * int(np.size(x0)) // MAX_DISTANCES)
    x = torch.as_tensor(np.asarray(x0), dtype=reference.dtype, device=reference.device)[None]
    with torch.no_grad():
        params = model.frame_params()
        state = model.initial_state(x)
        neuron, lowpass, output = state.neuron, state.lowpass, state.output
        spikes = torch.zeros_like(x[0])
        filtered = torch.zeros_like(x[0])
        distances, step = [], 0
        for _ in range(int(n_frames) - 1):
            current = frame_current(output, params)
            for _ in range(params.steps_per_frame):
                z, neuron, distance = lif_syn_step(
                    current, neuron, params.neuron, return_distance=True
                )
                _, lowpass = lowpass_step(z, lowpass, params.lowpass)
                if step % stride == 0:
                    distances.append(distance[0].abs())
                spikes += z[0]
                step += 1
            output = read_out(lowpass.r, params)
            filtered += lowpass.r[0]
    frames = max(1, int(n_frames) - 1)
    distance = float(torch.stack(distances).median()) if distances else float("nan")
    return SpikingProbe(
        (spikes / n_steps).cpu().numpy().astype(np.float64),
        (filtered / frames).cpu().numpy().astype(np.float64),
        distance,
    )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, LEVEL_CLIP, 1.0 - LEVEL_CLIP)
    return np.log(p / (1.0 - p))


def target_period(steps_per_frame: int) -> int:
    """Sub-steps between spikes under the mean input: max(2, S), about one spike a frame."""
    return max(2, int(steps_per_frame))


def derived_values(model, target: np.ndarray, period: int | None = None) -> dict:
    """Bias current b_in (N,), readout gain g (N,) and provisional readout offset c (N,) of the
    rule (module docstring) for ``model`` on ``target`` (T, N) in [0, 1], as float64 arrays,
    plus the target synaptic current ``current`` (a scalar); ``period``: sub-steps between
    spikes (None: :func:`target_period`)."""
    period = target_period(model.steps_per_frame) if period is None else period
    x = np.asarray(target, dtype=np.float64)
    mean = x.mean(axis=0)
    low, high = np.quantile(x, RANGE_QUANTILES, axis=0)
    gain = np.maximum(_logit(high) - _logit(low), 0.1)
    current = target_current(period, model.beta, model.threshold)
    with torch.no_grad():
        weight = model.effective_recurrent_weight().detach().cpu().double().numpy()
    drive = model.steps_per_frame * (1.0 - model.alpha) * current
    return {
        "bias_current": drive - weight @ mean,
        "readout_gain": gain,
        "readout_bias": _logit(mean) - gain / period,
        "current": current,
    }


def _set_readout_gain(model, gain: Tensor) -> None:
    from neurocircuit.models.activity_network import inverse_softplus

    if model.readout == "diagonal":
        values = [inverse_softplus(float(g)) for g in gain]
        model.readout_gain_parameter.copy_(torch.as_tensor(values, dtype=gain.dtype))
    else:
        model.readout_weight.copy_(torch.diag(gain))


def initialise_spiking_from_data(
    model, target: np.ndarray, period: int | None = None
) -> SpikingProbe:
    """Set ``model``'s bias currents, readout (gain, offset) and, for the SuperSpike surrogate,
    its scale from ``target`` (T, N) in [0, 1] (module docstring); the weights keep their
    random start. Returns the probe of the initialised network's rollout from ``target[0]``
    (the one that set the readout offsets and the surrogate's scale)."""
    x = np.asarray(target, dtype=np.float64)
    values = derived_values(model, x, period)
    reference = next(model.parameters())

    def tensor(name):
        return torch.as_tensor(values[name], dtype=reference.dtype, device=reference.device)

    with torch.no_grad():
        model.bias_current.copy_(tensor("bias_current"))
        _set_readout_gain(model, tensor("readout_gain"))
        model.readout_bias.copy_(tensor("readout_bias"))
    probe = probe_rollout(model, x[0], len(x))
    with torch.no_grad():
        offset = _logit(x.mean(axis=0)) - values["readout_gain"] * probe.filtered
        model.readout_bias.copy_(torch.as_tensor(offset, dtype=reference.dtype))
    if model.surrogate == "superspike" and probe.distance > 0:
        model.surrogate_scale = 1.0 / probe.distance
        model.init_kwargs["surrogate_scale"] = model.surrogate_scale
    return probe
