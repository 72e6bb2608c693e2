"""One rollout interface: a dynamics of ``models.dynamics`` run over time on one backend.

    outputs, final_state = rollout(dynamics, state, params, drive, n_steps, backend)

- ``dynamics``: a name of ``DYNAMICS`` (its reference step in ``STEPS``, the equation in that
  step's module): "lif", "lif_syn", "lif_syn_spytorch", "alif", "leaky_readout",
  "spytorch_readout", "lowpass", "wilson_cowan", "wilson_cowan_neurotorch",
  "spiking_activity".
- ``state``: the dynamics' NamedTuple state at the start, (B, N) tensors; None for the zero
  state of the spiking neurons and the readouts.
- ``params``: the dynamics' NamedTuple parameters (a recurrent weight in them couples the
  units: the Wilson–Cowan units through W r_{t-1}, the spiking ones through V z_{t-1}).
- ``drive``: (T, B, N) input per step, or None for an autonomous network (the rate and the
  spiking activity networks, whose drive is their own state through W).
- ``backend`` (``models.backend``): "reference" (the step loop under autograd), "torch" (the
  fused torch loops: ``fast_lif``, ``fused_rate``, ``fused_spiking``), "compiled"
  (``activity_kernels``), or "auto". ``available_backends`` says which can run a call.

Returns the outputs (T, B, N) of every step and the final state (None where a backend does not
give it: the classifier's fused layer, called with ``needs_state=False``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from neurocircuit.models.backend import choose_backend, fused_tensors
from neurocircuit.models.dynamics.alif import alif_initial_state, alif_step
from neurocircuit.models.dynamics.lif import lif_initial_state, lif_step
from neurocircuit.models.dynamics.lif_syn import (
    LIFSynState,
    lif_syn_initial_state,
    lif_syn_spytorch_step,
    lif_syn_step,
)
from neurocircuit.models.dynamics.readout import (
    LeakyReadoutState,
    LowPassState,
    SpyTorchReadoutState,
    leaky_readout_step,
    lowpass_step,
    spytorch_readout_step,
)
from neurocircuit.models.dynamics.spiking_activity import (
    SpikingActivityState,
    spiking_activity_step,
)
from neurocircuit.models.dynamics.wilson_cowan import (
    WilsonCowanState,
    wilson_cowan_neurotorch_step,
    wilson_cowan_step,
)

STEPS = {
    "lif": lif_step,
    "lif_syn": lif_syn_step,
    "lif_syn_spytorch": lif_syn_spytorch_step,
    "alif": alif_step,
    "leaky_readout": leaky_readout_step,
    "spytorch_readout": spytorch_readout_step,
    "lowpass": lowpass_step,
    "wilson_cowan": wilson_cowan_step,
    "wilson_cowan_neurotorch": wilson_cowan_neurotorch_step,
    "spiking_activity": spiking_activity_step,
}
DYNAMICS = tuple(STEPS)
ACTIVITY_DYNAMICS = ("wilson_cowan", "wilson_cowan_neurotorch", "spiking_activity")
"""The autonomous networks, with torch and compiled backends (``fused_rate``,
``fused_spiking``, ``activity_kernels``)."""
_SPIKING_ZERO = {"lif": lif_initial_state, "lif_syn": lif_syn_initial_state,
                 "lif_syn_spytorch": lif_syn_initial_state, "alif": alif_initial_state}  # fmt: skip


def check_dynamics(dynamics: str) -> str:
    """Return ``dynamics`` if it is one of ``DYNAMICS``, else a clear ValueError."""
    if dynamics not in STEPS:
        raise ValueError(f"dynamics must be one of {DYNAMICS}, got {dynamics!r}")
    return dynamics


def _activity_tensors(dynamics: str, state, params) -> tuple[Tensor, ...] | None:
    """The tensors whose dtype and device decide whether an activity network's fused loops
    run; None where they cannot (no recurrent weight, a refractory period)."""
    if dynamics == "spiking_activity":
        if params.neuron.refractory_steps != 0:
            return None
        neuron = state.neuron
        return (params.weight, neuron.v, neuron.i, state.lowpass.r, state.output)
    if params.recurrent_weight is None:
        return None
    return (params.recurrent_weight, state.r)


def _lif_syn_fused_applies(state, params, needs_state: bool) -> bool:
    """Whether ``fast_lif`` runs a LIF-with-synapse layer: from the zero state (None), SuperSpike
    surrogate, no refractory period, final state not needed."""
    return (
        state is None
        and not needs_state
        and params.surrogate == "superspike"
        and params.refractory_steps == 0
    )


def available_backends(
    dynamics: str, state, params, drive: Tensor | None = None, n_steps: int | None = None,
    *, needs_state: bool = True,
) -> tuple[str, ...]:  # fmt: skip
    """The backends that can run this rollout, in ``backend.PREFERENCE`` order.

    "reference" always. "torch": the activity networks autonomously (``drive`` None, at least
    one step) on float32 or float64 tensors of one CPU or CUDA device; the LIF-with-synapse
    layer and the leaky readout from the zero state (``state`` None) when the final state is
    not needed (``needs_state=False``; the layer also needs the SuperSpike surrogate and no
    refractory period). "compiled": where the activity networks' torch loops run, on the CPU.
    """
    check_dynamics(dynamics)
    backends = ["reference"]
    if dynamics in ACTIVITY_DYNAMICS:
        tensors = _activity_tensors(dynamics, state, params)
        if drive is None and n_steps is not None and int(n_steps) >= 1 and tensors is not None:
            if fused_tensors(*tensors):
                backends.insert(0, "torch")
                if tensors[0].device.type == "cpu":
                    backends.insert(0, "compiled")
    elif dynamics == "lif_syn" and _lif_syn_fused_applies(state, params, needs_state):
        backends.insert(0, "torch")
    elif dynamics == "leaky_readout" and state is None and not needs_state:
        backends.insert(0, "torch")
    return tuple(backends)


def _device(state, drive: Tensor | None):
    """The device a rollout runs on: its drive's, else its start state's first tensor's."""
    if drive is not None:
        return drive.device
    while isinstance(state, tuple):
        state = state[0]
    return getattr(state, "device", None)


def zero_state(dynamics: str, drive: Tensor, n: int | None = None):
    """The zero state of a spiking layer or a readout for a (T, B, N) ``drive``."""
    batch, n = drive.shape[1], drive.shape[2] if n is None else n
    if dynamics in _SPIKING_ZERO:
        return _SPIKING_ZERO[dynamics](batch, n, device=drive.device, dtype=drive.dtype)
    zeros = drive.new_zeros(batch, n)
    if dynamics == "spytorch_readout":
        return SpyTorchReadoutState(zeros.clone(), zeros)
    if dynamics == "leaky_readout":
        return LeakyReadoutState(zeros)
    if dynamics == "lowpass":
        return LowPassState(zeros)
    raise ValueError(f"{dynamics} has no zero state: give its start state")


def step_loop(step, state, params, drive: Tensor | None, n_steps: int):
    """The reference backend: ``output, state = step(drive[t], state, params)`` for every step
    (``drive`` None: no input), under autograd. Returns (outputs stacked (T, B, N), state)."""
    outputs = []
    for t in range(int(n_steps)):
        output, state = step(None if drive is None else drive[t], state, params)
        outputs.append(output)
    return torch.stack(outputs), state


def rollout(
    dynamics: str, state, params, drive: Tensor | None = None, n_steps: int | None = None,
    backend: str = "reference", *, needs_state: bool = True,
):  # fmt: skip
    """``n_steps`` steps of ``dynamics`` from ``state`` (see the module docstring): the outputs
    (T, B, N) and the final state, on ``backend`` (chosen by ``backend.choose_backend`` among
    ``available_backends``)."""
    if n_steps is None:
        if drive is None:
            raise ValueError("give n_steps for a rollout without a drive")
        n_steps = drive.shape[0]
    available = available_backends(dynamics, state, params, drive, n_steps, needs_state=needs_state)
    chosen = choose_backend(backend, available, _device(state, drive))
    if chosen == "reference":
        if state is None:
            state = zero_state(dynamics, drive)
        return step_loop(STEPS[dynamics], state, params, drive, n_steps)
    if dynamics == "lif_syn":
        from neurocircuit.models import fast_lif

        spikes = fast_lif.lif_syn_recurrent(
            drive, params.recurrent_weight, params.alpha, params.beta,
            threshold=params.threshold, reset=params.reset,
            surrogate_scale=params.surrogate_scale,
        )  # fmt: skip
        return spikes, None
    if dynamics == "leaky_readout":
        from neurocircuit.models import fast_lif

        return fast_lif.leaky_integrate(drive, params.kappa), None
    if dynamics == "spiking_activity":
        return _fused_spiking_activity(state, params, int(n_steps), chosen)
    return _fused_wilson_cowan(dynamics, state, params, int(n_steps), chosen)


def _fused_wilson_cowan(dynamics: str, state, params, n_steps: int, backend: str):
    """The rate network's fused rollout (``fused_rate``) on ``backend`` ("torch" or
    "compiled")."""
    from neurocircuit.models.fused_rate import rate_rollout

    if dynamics == "wilson_cowan_neurotorch":
        form = "neurotorch"
        p = {"dt_over_tau": params.dt_over_tau, "transition": params.transition}
    else:
        form = "default"
        p = {"decay": params.decay}
    p.update(weight=params.recurrent_weight, gain=params.gain, threshold=params.threshold)
    rates = rate_rollout(state.r, p, n_steps, form, backend)
    return rates, WilsonCowanState(rates[-1])


def _fused_spiking_activity(state, params, n_steps: int, backend: str):
    """The spiking activity network's fused rollout (``fused_spiking``) on ``backend``."""
    from neurocircuit.models.fused_spiking import spiking_rollout

    p = {"weight": params.weight, "bias_current": params.bias_current,
         "readout_bias": params.readout_bias}  # fmt: skip
    if params.readout_weight is None:
        p["readout_gain"] = params.readout_gain
    else:
        p["readout_weight"] = params.readout_weight
    neuron = params.neuron
    v0 = state.neuron
    outputs, v, i, z, r = spiking_rollout(
        (v0.v, v0.i, state.lowpass.r, state.output), p, n_steps,
        alpha=neuron.alpha, beta=neuron.beta, kappa=params.lowpass.kappa,
        threshold=neuron.threshold, reset=neuron.reset, surrogate=neuron.surrogate,
        surrogate_scale=neuron.surrogate_scale, steps_per_frame=params.steps_per_frame,
        kernels=backend,
    )  # fmt: skip
    final = LIFSynState(v, i, z, v0.refractory)
    return outputs, SpikingActivityState(final, LowPassState(r), outputs[-1])
