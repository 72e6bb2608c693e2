"""Networks that reproduce recorded activity: one recurrent unit per recorded neuron.

Both networks are rolled out autonomously from one recorded frame x0 (B, N) with values in
[0, 1] and fed back their own output; ``forward(x0, n_steps)`` returns (n_steps, B, N) in
[0, 1] where **output[0] is x0 itself** (the given frame, not a prediction) and output[k] is the
prediction of frame k. So a rollout of T steps lines up with a recording of T frames.

- ``RateActivityNetwork`` (``rate_network``): Wilson–Cowan rate units
  (``dynamics.wilson_cowan``) with
  learnable time constants, gains and thresholds (positive by softplus parametrizations);
  ``wilson_cowan="neurotorch"`` runs NeuroTorch's form instead
  (``neurons.wilson_cowan_neurotorch_step``: a learnable transition term (1 - r x), forward
  Euler).
- ``SpikingActivityNetwork`` (``spiking_network``, ``dynamics.spiking_activity``): LIF neurons
  with synaptic current driven by the fed-back output, their spikes low-pass filtered and read
  out one to one (the default ``readout="diagonal"``) through an affine map and a sigmoid.

The only coupling between units is, by default, the recurrent matrix W (N, N), [post, pre]:
unit k reaches unit i through W[i, k] alone, so Dale's law on W (a parametrization, see
``constraints``) is Dale's law from unit to unit. ``recurrent_weight()`` returns W with Dale's
law and masks applied; ``coupling_input(state)`` is the input every unit receives from the
others at the next step (the path of the plain rollout loop; the fused kernels that rollouts
run on by default compute the same product); ``effective_connectivity()`` is the unit-to-unit
matrix (W); ``dale_on_every_path()`` says whether every unit's influence on every other has
that unit's sign; ``set_connection_mask`` removes connections (ablation) from every later
forward pass.

Rollouts go through ``models.rollout`` on the network's ``backend`` (``models.backend``): by
default ("auto") the compiled loops on the CPU and the fused torch loops on CUDA (no per-step
autograd graph, a hand-written backward through time; ``fused_rate``, ``fused_spiking``), the
reference loop of step functions elsewhere (other dtypes, an ``external_input``); "reference"
always runs that loop, the definition the others are tested against
(tests/unit/test_fast_activity.py, tests/unit/test_rollout_parity.py).

One non-default option breaks this: the spiking network's ``readout="full"``, kept to reproduce
NeuroTorch's spiking model (Gince et al. 2024), whose output layer W_out (N, N) mixes every
unit's filtered spikes before they are fed back through W. It is a second coupling path: unit k
reaches unit i through W[i, j] sigmoid'(.) W_out[j, k] for every j, and W_out's off-diagonal
entries have no sign constraint, so that influence can have either sign even when W obeys Dale's
law (``dale_on_every_path()`` is False there).
"""

from __future__ import annotations

from neurocircuit.models.activity_network import (
    _ActivityNetwork,
    check_initial_frame,
    inverse_softplus,
)
from neurocircuit.models.dynamics.spiking_activity import SpikingActivityState
from neurocircuit.models.rate_network import WILSON_COWAN_FORMS, RateActivityNetwork
from neurocircuit.models.spiking_network import READOUTS, SpikingActivityNetwork

__all__ = [
    "READOUTS", "WILSON_COWAN_FORMS", "RateActivityNetwork", "SpikingActivityNetwork",
    "SpikingActivityState", "_ActivityNetwork", "check_initial_frame", "inverse_softplus",
]  # fmt: skip
