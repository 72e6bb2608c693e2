"""Spiking and rate network dynamics with biological constraints.

- ``neurons``: pure step functions ``(input, state, params) -> (output, new_state)``
  (LIF, LIF with synaptic current, adaptive LIF, leaky readout, low-pass filter,
  Wilson–Cowan), NamedTuple states and params, time-major (T, B, N) sequences.
- ``surrogates``: SuperSpike and triangle surrogate gradients.
- ``constraints``: Dale's law parametrizations, E–I balanced init, structural masks.
- ``classifier``: ``SpikingClassifier`` (input -> spiking hidden -> leaky readout).
- ``activity``: ``RateActivityNetwork`` and ``SpikingActivityNetwork`` (fit recorded activity).
- ``fast_lif``: fused kernels for the LIF-with-synapse hot path (used by the classifier).
- ``names``: the grammar of model names (read by fit, ablation and figures).
- ``fitted``: build, save, load, roll out and initialise fitted activity networks.

The names below are importable from this package, loaded on first use, so that importing
``neurocircuit.models.names`` (the figures do) does not import torch.
"""

from importlib import import_module

_SOURCES = {
    "ALIFParams": "neurons",
    "ALIFState": "neurons",
    "ClassifierState": "classifier",
    "DALE_MODES": "constraints",
    "DISCRETISATIONS": "classifier_options",
    "DaleSign": "constraints",
    "LIFParams": "neurons",
    "LIFState": "neurons",
    "LIFSynParams": "neurons",
    "LIFSynState": "neurons",
    "LeakyReadoutParams": "neurons",
    "LeakyReadoutState": "neurons",
    "LearnableDaleSign": "constraints",
    "LowPassParams": "neurons",
    "LowPassState": "neurons",
    "NEURON_TYPES": "classifier_options",
    "NeuroTorchWilsonCowanParams": "neurons",
    "RateActivityNetwork": "activity",
    "SpikingActivityNetwork": "activity",
    "SpikingActivityState": "dynamics.spiking_activity",
    "SpikingClassifier": "classifier",
    "SpyTorchReadoutParams": "neurons",
    "SpyTorchReadoutState": "neurons",
    "SuperSpike": "surrogates",
    "TriangleSpike": "surrogates",
    "WilsonCowanParams": "neurons",
    "WilsonCowanState": "neurons",
    "alif_initial_state": "neurons",
    "alif_step": "neurons",
    "decay": "neurons",
    "draw_neuron_signs": "constraints",
    "init_signed_weight": "constraints",
    "leaky_readout_step": "neurons",
    "lif_initial_state": "neurons",
    "lif_step": "neurons",
    "lif_syn_initial_state": "neurons",
    "lif_syn_spytorch_step": "neurons",
    "lif_syn_step": "neurons",
    "lowpass_step": "neurons",
    "spike": "surrogates",
    "spytorch_readout_step": "neurons",
    "structural_mask": "constraints",
    "surrogate_derivative": "surrogates",
    "wilson_cowan_neurotorch_step": "neurons",
    "wilson_cowan_step": "neurons",
}
__all__ = sorted(_SOURCES)


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module 'neurocircuit.models' has no attribute '{name}'")
    value = getattr(import_module(f"neurocircuit.models.{_SOURCES[name]}"), name)
    globals()[name] = value
    return value
