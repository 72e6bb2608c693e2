"""Non-spiking filters: the leaky readout, SpyTorch's two-stage readout and the low-pass filter.

    leaky readout:      y_t = kappa y_{t-1} + input_t
    SpyTorch readout:   y_t = kappa y_{t-1} + i_{t-1};  i_t = alpha i_{t-1} + input_t
    low-pass filter:    r_t = kappa r_{t-1} + (1 - kappa) z_t

The leaky readout's torch backend is ``models.fast_lif.leaky_integrate`` (from zero state).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class LeakyReadoutState(NamedTuple):
    """State of a leaky-integrator readout: y (B, N_out)."""

    y: Tensor


class LeakyReadoutParams(NamedTuple):
    """kappa: readout decay exp(-dt / tau_out)."""

    kappa: float | Tensor


class SpyTorchReadoutState(NamedTuple):
    """State of SpyTorch's two-stage readout, each (B, N_out): i (filtered drive), y (output)."""

    i: Tensor
    y: Tensor


class SpyTorchReadoutParams(NamedTuple):
    """alpha: drive filter decay exp(-dt / tau_syn); kappa: output decay exp(-dt / tau_out)."""

    alpha: float | Tensor
    kappa: float | Tensor


class LowPassState(NamedTuple):
    """State of a low-pass filter of spikes: r (B, N), a firing rate per step in [0, 1]."""

    r: Tensor


class LowPassParams(NamedTuple):
    """kappa: filter decay exp(-dt / tau_out)."""

    kappa: float | Tensor


def leaky_readout_step(
    input: Tensor, state: LeakyReadoutState, params: LeakyReadoutParams
) -> tuple[Tensor, LeakyReadoutState]:
    """One step of a non-spiking leaky-integrator readout: y_t = kappa y_{t-1} + input_t.

    Args:
        input: (B, N_out) drive W_out z_t + b.
        state: ``LeakyReadoutState`` at t-1.
        params: ``LeakyReadoutParams``.
    Returns:
        y_t (B, N_out) and the new state.
    """
    y = params.kappa * state.y + input
    return y, LeakyReadoutState(y)


def spytorch_readout_step(
    input: Tensor, state: SpyTorchReadoutState, params: SpyTorchReadoutParams
) -> tuple[Tensor, SpyTorchReadoutState]:
    """One step of SpyTorch's non-spiking readout, a two-stage leaky filter ("spytorch"
    discretisation): the drive is filtered like a synaptic current, the output like a membrane
    that integrates the previous current.

    y_t = kappa y_{t-1} + i_{t-1};  i_t = alpha i_{t-1} + input_t.

    SpyTorch records the initial y_0 = 0 as well, so its max over time is max(0, max_t y_t);
    the classifier's readout has the T values y_1..y_T (the same unless every y_t < 0).

    Args:
        input: (B, N_out) drive W_out z_t + b.
        state: ``SpyTorchReadoutState`` at t-1.
        params: ``SpyTorchReadoutParams`` (SpyTorch: alpha = exp(-dt / tau_syn), kappa =
            exp(-dt / tau_mem), the hidden neurons' decays).
    Returns:
        y_t (B, N_out) and the new state.
    """
    y = params.kappa * state.y + state.i
    i = params.alpha * state.i + input
    return y, SpyTorchReadoutState(i, y)


def lowpass_step(
    input: Tensor, state: LowPassState, params: LowPassParams
) -> tuple[Tensor, LowPassState]:
    """One step of a unit-gain low-pass filter of spikes: r_t = kappa r_{t-1} + (1 - kappa) z_t.

    For spikes in {0, 1}, r stays in [0, 1] (a firing probability per step).

    Args:
        input: (B, N) spikes z_t.
        state: ``LowPassState`` at t-1.
        params: ``LowPassParams``.
    """
    r = params.kappa * state.r + (1.0 - params.kappa) * input
    return r, LowPassState(r)
