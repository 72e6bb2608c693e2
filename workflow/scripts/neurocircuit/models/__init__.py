"""Spiking and rate network dynamics with biological constraints.

- ``neurons``: pure step functions ``(input, state, params) -> (output, new_state)``
  (LIF, LIF with synaptic current, adaptive LIF, leaky readout, low-pass filter,
  Wilson–Cowan), NamedTuple states and params, time-major (T, B, N) sequences.
- ``surrogates``: SuperSpike and triangle surrogate gradients.
- ``constraints``: Dale's law parametrizations, E–I balanced init, structural masks.
- ``classifier``: ``SpikingClassifier`` (input -> spiking hidden -> leaky readout).
- ``activity``: ``RateActivityNetwork`` and ``SpikingActivityNetwork`` (fit recorded activity).
- ``fast_lif``: fused kernels for the LIF-with-synapse hot path (used by the classifier).
"""

from neurocircuit.models.activity import (
    RateActivityNetwork,
    SpikingActivityNetwork,
    SpikingActivityState,
)
from neurocircuit.models.classifier import NEURON_TYPES, ClassifierState, SpikingClassifier
from neurocircuit.models.constraints import (
    DALE_MODES,
    DaleSign,
    LearnableDaleSign,
    draw_neuron_signs,
    init_signed_weight,
    structural_mask,
)
from neurocircuit.models.neurons import (
    ALIFParams,
    ALIFState,
    LeakyReadoutParams,
    LeakyReadoutState,
    LIFParams,
    LIFState,
    LIFSynParams,
    LIFSynState,
    LowPassParams,
    LowPassState,
    WilsonCowanParams,
    WilsonCowanState,
    alif_initial_state,
    alif_step,
    decay,
    leaky_readout_step,
    lif_initial_state,
    lif_step,
    lif_syn_initial_state,
    lif_syn_step,
    lowpass_step,
    wilson_cowan_step,
)
from neurocircuit.models.surrogates import SuperSpike, TriangleSpike, spike, surrogate_derivative

__all__ = [
    "ALIFParams",
    "ALIFState",
    "ClassifierState",
    "DALE_MODES",
    "DaleSign",
    "LIFParams",
    "LIFState",
    "LIFSynParams",
    "LIFSynState",
    "LeakyReadoutParams",
    "LeakyReadoutState",
    "LearnableDaleSign",
    "LowPassParams",
    "LowPassState",
    "NEURON_TYPES",
    "RateActivityNetwork",
    "SpikingActivityNetwork",
    "SpikingActivityState",
    "SpikingClassifier",
    "SuperSpike",
    "TriangleSpike",
    "WilsonCowanParams",
    "WilsonCowanState",
    "alif_initial_state",
    "alif_step",
    "decay",
    "draw_neuron_signs",
    "init_signed_weight",
    "leaky_readout_step",
    "lif_initial_state",
    "lif_step",
    "lif_syn_initial_state",
    "lif_syn_step",
    "lowpass_step",
    "spike",
    "structural_mask",
    "surrogate_derivative",
    "wilson_cowan_step",
]
