"""Each dynamics written once: its state and parameters (NamedTuples), its zero state and its
reference step, a pure function ``(input, state, params) -> (output, new_state)`` on (B, N)
tensors, with the equation in the module's docstring. Every other loop of the library (the
fused torch loops, the compiled loops, e-prop, FORCE, the teacher) computes these equations
and is tested against these steps (tests/unit/test_rollout_parity.py); ``models.rollout`` runs
any of them over time on one of its backends.

- ``common``: decays, resets, the end of every spiking step, ``pseudo_derivative``.
- ``lif``: LIF (membrane only).
- ``lif_syn``: LIF with synaptic current, the library's order and SpyTorch's.
- ``alif``: adaptive LIF (e-prop's ALIF).
- ``readout``: leaky readout, SpyTorch's two-stage readout, low-pass filter of spikes.
- ``wilson_cowan``: Wilson–Cowan rate units, exact decay and NeuroTorch's form.
- ``spiking_activity``: one frame of the spiking activity network (``lif_syn`` + low-pass +
  sigmoid readout, fed back its own output).
"""
