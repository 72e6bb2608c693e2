"""Spiking and rate network dynamics with biological constraints.

- ``dynamics``: each dynamics written once, one module each (LIF, LIF with synaptic current in
  both orders, adaptive LIF, the readouts and the low-pass filter, Wilson–Cowan in both forms,
  the spiking activity network's frame): pure step functions ``(input, state, params) ->
  (output, new_state)`` with NamedTuple states and params, the equation in the docstring;
  ``neurons`` re-exports them.
- ``rollout``: the one rollout interface, ``rollout(dynamics, state, params, drive, n_steps,
  backend)``, and ``available_backends`` (which backends can run a call).
- ``backend``: the one ``backend`` setting (auto / reference / torch / compiled).
- ``fast_lif`` (with ``spike_projection``), ``fused_rate``, ``fused_spiking``,
  ``activity_kernels``: the fused backends (hand-written backward passes; compiled loops);
  ``fast_activity`` describes the activity networks' ones.
- ``surrogates``: SuperSpike and triangle surrogate gradients.
- ``constraints``: Dale's law parametrizations, E–I balanced init, structural masks.
- ``classifier`` (with ``classifier_options``): ``SpikingClassifier`` (input -> spiking
  hidden -> leaky readout).
- ``activity`` (``activity_network``, ``rate_network``, ``spiking_network``):
  ``RateActivityNetwork`` and ``SpikingActivityNetwork`` (fit recorded activity).
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
