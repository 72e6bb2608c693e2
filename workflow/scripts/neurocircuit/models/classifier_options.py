"""The ``SpikingClassifier``'s options: neuron types, discretisations, backends, and the checks
that give a clear ValueError for a bad one."""

from __future__ import annotations

from neurocircuit.models.constraints import check_exc_fraction
from neurocircuit.models.dynamics.common import check_reset
from neurocircuit.models.surrogates import check_surrogate

NEURON_TYPES = ("lif_syn", "lif", "alif")
DISCRETISATIONS = ("default", "spytorch")
"""How the LIF-with-synapse layer and the readout are stepped: ``neurons.lif_syn_step`` with the
leaky readout, or SpyTorch's order (``neurons.lif_syn_spytorch_step`` with
``neurons.spytorch_readout_step``). A numerical choice (the two orders give different numbers),
not a backend."""
CLASSIFIER_BACKENDS = ("auto", "reference", "torch")
"""The classifier's backends (no compiled loop for it)."""


def check_discretisation(discretisation: str, neuron: str) -> str:
    """Return ``discretisation`` if it is known and fits ``neuron``, else a clear ValueError
    ("spytorch" exists for the LIF neuron with synaptic current only)."""
    if discretisation not in DISCRETISATIONS:
        raise ValueError(f"discretisation must be one of {DISCRETISATIONS}, got {discretisation!r}")
    if discretisation == "spytorch" and neuron != "lif_syn":
        raise ValueError(
            f"discretisation 'spytorch' is SpyTorch's LIF with synaptic current: it needs "
            f"neuron 'lif_syn', got {neuron!r}"
        )
    return discretisation


def check_dale_recurrent(dale: bool, recurrent: bool) -> None:
    """Dale's law constrains the hidden neurons' recurrent weights: a clear ValueError without
    recurrence (a feed-forward hidden layer has no synapses between neurons to constrain)."""
    if dale and not recurrent:
        raise ValueError(
            "dale needs recurrent: Dale's law signs the hidden neurons' recurrent weights (the "
            "input stays excitatory and the readout free), so a feed-forward layer has nothing "
            "to constrain"
        )


def _check_options(n_in, n_hidden, n_out, neuron, reset, surrogate, exc_fraction, refractory_ms):
    """A clear ValueError for a bad ``SpikingClassifier`` option (sizes, names, fractions)."""
    for name, value in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
        if int(value) < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    if neuron not in NEURON_TYPES:
        raise ValueError(f"neuron must be one of {NEURON_TYPES}, got {neuron!r}")
    check_reset(reset)
    check_surrogate(surrogate)
    check_exc_fraction(exc_fraction)
    if refractory_ms < 0:
        raise ValueError(f"refractory_ms must be >= 0, got {refractory_ms}")
