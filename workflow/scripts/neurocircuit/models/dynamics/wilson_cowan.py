"""Wilson–Cowan rate units in two forms: ``wilson_cowan_step`` (exact exponential decay) and
``wilson_cowan_neurotorch_step`` (NeuroTorch's transition term, forward Euler).

    default:     r_t = d r_{t-1} + (1 - d) sigmoid(g (W r_{t-1} + I_t) - b),  d = exp(-dt / tau)
    neurotorch:  x_t = (1 - h) x_{t-1} + h (1 - c x_{t-1}) sigmoid(g (W x_{t-1} + I_t) - mu),
                 h = dt / tau, c the transition rate

These are the equations every other Wilson–Cowan loop computes: the rate network's backends
(``models.fused_rate``: torch, ``models.activity_kernels``: compiled), e-prop's forward pass
and the teacher of the synthetic recordings (``imaging.teacher.teacher_step``, a NumPy twin of
the default form tested against ``wilson_cowan_step``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class WilsonCowanState(NamedTuple):
    """State of Wilson–Cowan rate units: r (B, N), firing rates in (0, 1)."""

    r: Tensor


class WilsonCowanParams(NamedTuple):
    """Parameters of Wilson–Cowan units.

    decay: exp(-dt / tau) per unit ((N,) tensor or float); gain: g > 0 ((N,) or float);
    threshold: b ((N,) or float); recurrent_weight: (N, N) [post, pre] or None.
    """

    decay: float | Tensor
    gain: float | Tensor = 1.0
    threshold: float | Tensor = 0.0
    recurrent_weight: Tensor | None = None


class NeuroTorchWilsonCowanParams(NamedTuple):
    """Parameters of NeuroTorch's Wilson–Cowan units (``wilson_cowan_neurotorch_step``).

    dt_over_tau: h = dt / tau, the forward-Euler step ((N,) tensor or float; rates stay in
    [0, 1] for h in (0, 1]); transition: the transition rate r of the (1 - r x) term ((N,) or
    float; [0, 1] keeps the rates in [0, 1]); gain: g ((N,) or float; NeuroTorch has g = 1);
    threshold: mu ((N,) or float); recurrent_weight: (N, N) [post, pre] or None.
    """

    dt_over_tau: float | Tensor
    transition: float | Tensor = 0.0
    gain: float | Tensor = 1.0
    threshold: float | Tensor = 0.0
    recurrent_weight: Tensor | None = None


def _wilson_cowan_rate(input: Tensor | None, state: WilsonCowanState, params) -> Tensor:
    """sigmoid(g (W r_{t-1} + I_t) - b), the target rate both Wilson–Cowan forms relax toward
    (``input`` None: no external drive, g (W r_{t-1}) - b)."""
    drive = input
    if params.recurrent_weight is not None:
        coupling = state.r @ params.recurrent_weight.t()
        drive = coupling if drive is None else drive + coupling
    return torch.sigmoid(params.gain * drive - params.threshold)


def wilson_cowan_step(
    input: Tensor | None, state: WilsonCowanState, params: WilsonCowanParams
) -> tuple[Tensor, WilsonCowanState]:
    """One step of Wilson–Cowan rate units, integrated with exact exponential decay.

    tau dr/dt = -r + sigmoid(g (W r + I) - b), integrated over dt with the drive held constant:
    r_t = d r_{t-1} + (1 - d) sigmoid(g (W r_{t-1} + I_t) - b),  d = exp(-dt / tau).
    r stays in (0, 1) for any r_0 in [0, 1] (a convex combination of values in [0, 1]).

    Args:
        input: (B, N) external drive I_t, or None (an autonomous network).
        state: ``WilsonCowanState`` at t-1.
        params: ``WilsonCowanParams`` (W is [post, pre]).
    Returns:
        r_t (B, N) and the new state.
    """
    rate = _wilson_cowan_rate(input, state, params)
    r = params.decay * state.r + (1.0 - params.decay) * rate
    return r, WilsonCowanState(r)


def wilson_cowan_neurotorch_step(
    input: Tensor | None, state: WilsonCowanState, params: NeuroTorchWilsonCowanParams
) -> tuple[Tensor, WilsonCowanState]:
    """One step of NeuroTorch's Wilson–Cowan units: a transition term, forward Euler.

    tau dx/dt = -x + (1 - r x) sigmoid(g (W x + I) - mu), one forward-Euler step of dt:
    x_t = (1 - h) x_{t-1} + h (1 - r x_{t-1}) sigmoid(g (W x_{t-1} + I_t) - mu),  h = dt / tau.
    With g = 1 and I = 0 this is NeuroTorch 0.0.2's ``WilsonCowanLayer.forward`` (Gince et al.
    2024; its docstring: output = x (1 - dt/tau) + dt/tau (1 - x r) sigmoid(x W - mu)). With
    r = 0 it is ``wilson_cowan_step`` with the decay 1 - h instead of exp(-h). x stays in [0, 1]
    for x_0 in [0, 1] when h is in (0, 1] and r in [0, 1] (x_t is then a convex combination of
    x_{t-1} and (1 - r x_{t-1}) sigmoid(.), both in [0, 1]); otherwise it can leave [0, 1].

    Args:
        input: (B, N) external drive I_t, or None (an autonomous network).
        state: ``WilsonCowanState`` at t-1 (its ``r`` holds the rates x_{t-1}).
        params: ``NeuroTorchWilsonCowanParams`` (W is [post, pre]).
    Returns:
        x_t (B, N) and the new state.
    """
    rate = _wilson_cowan_rate(input, state, params)
    h = params.dt_over_tau
    x = (1.0 - h) * state.r + h * (1.0 - params.transition * state.r) * rate
    return x, WilsonCowanState(x)
