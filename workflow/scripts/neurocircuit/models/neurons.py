"""The neuron dynamics' step functions, states and parameters, importable from one place.

Each dynamics is written once, in its own module of ``models.dynamics`` (the equation in that
module's docstring): ``dynamics.lif``, ``dynamics.lif_syn`` (the library's order, "default"
discretisation, and SpyTorch's), ``dynamics.alif``, ``dynamics.readout`` (leaky readout,
SpyTorch's readout, low-pass filter), ``dynamics.wilson_cowan`` (both forms) and
``dynamics.common`` (decays, resets, the end of every spiking step). This module re-exports
them under the names the rest of the library and its users import.
"""

from neurocircuit.models.dynamics.alif import ALIFParams, ALIFState, alif_initial_state, alif_step
from neurocircuit.models.dynamics.common import (
    RESETS,
    _add_recurrent,
    _fire_and_reset,
    _zeros,
    check_reset,
    decay,
    pseudo_derivative,
)
from neurocircuit.models.dynamics.lif import LIFParams, LIFState, lif_initial_state, lif_step
from neurocircuit.models.dynamics.lif_syn import (
    LIFSynParams,
    LIFSynState,
    lif_syn_initial_state,
    lif_syn_spytorch_step,
    lif_syn_step,
)
from neurocircuit.models.dynamics.readout import (
    LeakyReadoutParams,
    LeakyReadoutState,
    LowPassParams,
    LowPassState,
    SpyTorchReadoutParams,
    SpyTorchReadoutState,
    leaky_readout_step,
    lowpass_step,
    spytorch_readout_step,
)
from neurocircuit.models.dynamics.wilson_cowan import (
    NeuroTorchWilsonCowanParams,
    WilsonCowanParams,
    WilsonCowanState,
    _wilson_cowan_rate,
    wilson_cowan_neurotorch_step,
    wilson_cowan_step,
)

__all__ = [
    "ALIFParams", "ALIFState", "LIFParams", "LIFState", "LIFSynParams", "LIFSynState",
    "LeakyReadoutParams", "LeakyReadoutState", "LowPassParams", "LowPassState",
    "NeuroTorchWilsonCowanParams", "RESETS", "SpyTorchReadoutParams", "SpyTorchReadoutState",
    "WilsonCowanParams", "WilsonCowanState", "_add_recurrent", "_fire_and_reset",
    "_wilson_cowan_rate", "_zeros", "alif_initial_state", "alif_step", "check_reset", "decay",
    "leaky_readout_step", "lif_initial_state", "lif_step", "lif_syn_initial_state",
    "lif_syn_spytorch_step", "lif_syn_step", "lowpass_step", "pseudo_derivative",
    "spytorch_readout_step", "wilson_cowan_neurotorch_step", "wilson_cowan_step",
]  # fmt: skip
