"""Neuron dynamics as pure step functions ``(input, state, params) -> (output, new_state)``.

Conventions (shared by every model and by ``fast_lif``):

- Tensors are time-major: a sequence is (T, B, N); one step works on (B, N) tensors.
- ``input`` of a step is the feed-forward drive already projected onto the neurons (for
  example ``W_in x_t``); an optional recurrent weight V ([post, pre], (N, N)) in ``params``
  adds ``V z_{t-1}`` from the spikes kept in the state.
- Decays are exact exponentials of the time step: alpha = exp(-dt / tau_syn),
  beta = exp(-dt / tau_mem), rho = exp(-dt / tau_adapt), kappa = exp(-dt / tau_out).
  ``decay(dt, tau)`` computes them.
- Spikes are z = H(v~ - threshold) with a surrogate gradient (``surrogates``); the reset uses
  the detached spike (sg = stop-gradient), as in SpyTorch and e-prop:
  "zero": v = v~ (1 - sg(z)), "subtract": v = v~ - threshold sg(z).
- Refractory period (optional, in steps): after a spike a neuron cannot spike for
  ``refractory_steps`` steps (its spike, and so its surrogate gradient, is masked); its membrane
  keeps integrating (Bellec et al. 2020).
- The spiking steps (``lif_step``, ``lif_syn_step``, ``lif_syn_spytorch_step``, ``alif_step``)
  share their end (spike, refractory mask, reset: ``_fire_and_reset``); with
  ``return_distance=True`` they also return v~ - A, from which ``pseudo_derivative`` gives
  e-prop the surrogate's dz/dv~.
- Two discretisations of the LIF neuron with synaptic current: "default" (``lif_syn_step``:
  the membrane integrates the new current and spikes on the updated membrane) and "spytorch"
  (``lif_syn_spytorch_step`` with ``spytorch_readout_step``: the order of SpyTorch's code, the
  previous current and the membrane before the update).

States are NamedTuples of (B, N) tensors; ``*_initial_state`` helpers give the zero state.
"""

from __future__ import annotations

import math
from typing import NamedTuple

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


# --------------------------------------------------------------------------- states and params


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


# ------------------------------------------------------------------------------ initial states


def _zeros(batch_size: int, n: int, like: Tensor | None, device=None, dtype=None) -> Tensor:
    if like is not None:
        device = like.device if device is None else device
        dtype = like.dtype if dtype is None else dtype
    return torch.zeros(batch_size, n, device=device, dtype=dtype or torch.get_default_dtype())


def lif_initial_state(batch_size: int, n: int, *, device=None, dtype=None) -> LIFState:
    """Zero state (rest, no spikes, not refractory) for ``n`` LIF neurons."""
    z = _zeros(batch_size, n, None, device, dtype)
    return LIFState(z, z.clone(), z.clone())


def lif_syn_initial_state(batch_size: int, n: int, *, device=None, dtype=None) -> LIFSynState:
    """Zero state for ``n`` LIF neurons with synaptic current."""
    z = _zeros(batch_size, n, None, device, dtype)
    return LIFSynState(z, z.clone(), z.clone(), z.clone())


def alif_initial_state(batch_size: int, n: int, *, device=None, dtype=None) -> ALIFState:
    """Zero state (no adaptation) for ``n`` adaptive LIF neurons."""
    z = _zeros(batch_size, n, None, device, dtype)
    return ALIFState(z, z.clone(), z.clone(), z.clone())


# ------------------------------------------------------------------------------ step functions


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


def _wilson_cowan_rate(input: Tensor, state: WilsonCowanState, params) -> Tensor:
    """sigmoid(g (W r_{t-1} + I_t) - b), the target rate both Wilson–Cowan forms relax toward."""
    drive = input
    if params.recurrent_weight is not None:
        drive = drive + state.r @ params.recurrent_weight.t()
    return torch.sigmoid(params.gain * drive - params.threshold)


def wilson_cowan_step(
    input: Tensor, state: WilsonCowanState, params: WilsonCowanParams
) -> tuple[Tensor, WilsonCowanState]:
    """One step of Wilson–Cowan rate units, integrated with exact exponential decay.

    tau dr/dt = -r + sigmoid(g (W r + I) - b), integrated over dt with the drive held constant:
    r_t = d r_{t-1} + (1 - d) sigmoid(g (W r_{t-1} + I_t) - b),  d = exp(-dt / tau).
    r stays in (0, 1) for any r_0 in [0, 1] (a convex combination of values in [0, 1]).

    Args:
        input: (B, N) external drive I_t (zeros for an autonomous network).
        state: ``WilsonCowanState`` at t-1.
        params: ``WilsonCowanParams`` (W is [post, pre]).
    Returns:
        r_t (B, N) and the new state.
    """
    rate = _wilson_cowan_rate(input, state, params)
    r = params.decay * state.r + (1.0 - params.decay) * rate
    return r, WilsonCowanState(r)


def wilson_cowan_neurotorch_step(
    input: Tensor, state: WilsonCowanState, params: NeuroTorchWilsonCowanParams
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
        input: (B, N) external drive I_t (zeros for an autonomous network).
        state: ``WilsonCowanState`` at t-1 (its ``r`` holds the rates x_{t-1}).
        params: ``NeuroTorchWilsonCowanParams`` (W is [post, pre]).
    Returns:
        x_t (B, N) and the new state.
    """
    rate = _wilson_cowan_rate(input, state, params)
    h = params.dt_over_tau
    x = (1.0 - h) * state.r + h * (1.0 - params.transition * state.r) * rate
    return x, WilsonCowanState(x)
