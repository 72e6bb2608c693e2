"""Spiking classifier: input -> (recurrent) spiking hidden layer -> leaky-integrator readout.

The module runs its hidden layer and its readout through ``models.rollout``: the reference
steps of ``models.dynamics`` (backend "reference") or, on the hot path, the fused kernels of
``fast_lif`` (backend "torch"); it holds no hidden state between calls. The readout
y_t (T, B, n_out) is meant for a max-over-time cross-entropy (``learning.ClassificationTask``).

Dale's law (``dale=True``) constrains the hidden layer the way a cortical circuit model does
(Song, Yang & Wang 2016, PLoS Comput. Biol. 12:e1004792): each hidden neuron is excitatory or
inhibitory (its column of the recurrent matrix V[post, pre] carries its sign), the input
afferents are excitatory (W_in >= 0), and the readout W_out is free: it is a decoder, not a
set of synapses that Dale's law speaks about.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from neurocircuit.models import fast_lif
from neurocircuit.models import neurons as nrn
from neurocircuit.models.backend import (
    DeprecatedFastPath,
    backend_from_legacy,
    check_backend,
    choose_backend,
)
from neurocircuit.models.classifier_options import (  # noqa: F401 - the option names, re-exported
    CLASSIFIER_BACKENDS,
    DISCRETISATIONS,
    NEURON_TYPES,
    _check_options,
    check_dale_recurrent,
    check_discretisation,
)
from neurocircuit.models.constraints import (
    DaleSign,
    add_recurrent_weight,
    check_mask,
    draw_neuron_signs,
    init_signed_weight,
    make_dale_parametrization,
)
from neurocircuit.models.rollout import available_backends
from neurocircuit.models.rollout import rollout as run_rollout
from neurocircuit.models.surrogates import resolve_surrogate_scale


class ClassifierState(NamedTuple):
    """Carried state of a ``SpikingClassifier`` (for truncated BPTT): hidden neurons, readout."""

    neuron: nrn.LIFState | nrn.LIFSynState | nrn.ALIFState
    readout: nrn.LeakyReadoutState | nrn.SpyTorchReadoutState


class SpikingClassifier(DeprecatedFastPath, nn.Module):
    """n_in inputs -> n_hidden spiking neurons (optionally recurrent) -> n_out leaky readouts.

    Args:
        n_in, n_hidden, n_out: layer sizes.
        neuron: "lif_syn" (LIF with synaptic current, SpyTorch), "lif" (membrane only) or
            "alif" (adaptive threshold, Bellec et al. 2018/2020).
        recurrent: hidden-to-hidden weights V (n_hidden, n_hidden), [post, pre].
        dale: Dale's law on the hidden layer (needs ``recurrent``): each hidden neuron is
            excitatory or inhibitory, and its column of V carries its sign; the input
            afferents are excitatory (W_in >= 0, Song, Yang & Wang 2016); the readout W_out is
            free (a decoder).
        dale_mode: identities of the hidden neurons, "fixed" or "learnable_sign" (NeuroTorch's
            variant); the input stays excitatory in both.
        exc_fraction: fraction of excitatory hidden neurons (default 0.8).
        ei_balance: scale inhibitory recurrent weights so the expected net input is zero at
            init.
        dt_ms, tau_mem_ms, tau_syn_ms, tau_out_ms, tau_adapt_ms: time step and time constants
            (ms); decays are exp(-dt / tau).
        adapt_strength: ALIF threshold increase per unit of adaptation (beta_a).
        threshold: firing threshold (membrane units).
        refractory_ms: refractory period (0 = none).
        reset: "zero" or "subtract" (detached reset).
        surrogate: "superspike" or "triangle".
        surrogate_scale: SuperSpike steepness (default 100) or the triangle's height gamma
            (default 0.3); None picks the default of the chosen surrogate.
        discretisation: "default" (``neurons.lif_syn_step``, leaky readout
            y_t = kappa y_{t-1} + W_out z_t + b) or "spytorch" (``neurons.lif_syn_spytorch_step``
            and ``neurons.spytorch_readout_step``: the order of SpyTorch's code; neuron
            "lif_syn" only; no fused fast path, no e-prop).
        input_scale, recurrent_scale, readout_scale: initial weight std times sqrt(fan-in)
            (SpyTorch's weight_scale = 0.2).
        self_connections: keep recurrent self-connections (V_ii).
        connection_density: fraction of recurrent connections that exist (random mask).
        seed: seeds the initial weights and identities (independent of the global RNG).
        backend: "auto" (default) or "torch": the fused ``fast_lif`` kernels where they apply
            (lif_syn, "default" discretisation, superspike, no refractory period, zero initial
            state, state not returned; ``available_backends``), the reference loop of step
            functions elsewhere; "reference": always that loop. The kernels run on the
            effective weights (Dale's parametrizations and masks applied, gradients mapped
            back by autograd).
        use_fast_path: deprecated (True: backend "auto", False: "reference").

    ``forward(x)`` takes x (T, B, n_in) and returns (readout (T, B, n_out), spikes
    (T, B, n_hidden)); with ``state=`` / ``return_state=True`` it continues from and returns a
    ``ClassifierState`` (truncated BPTT).
    """

    def __init__(
        self,
        n_in: int,
        n_hidden: int,
        n_out: int,
        *,
        neuron: str = "lif_syn",
        recurrent: bool = True,
        dale: bool = False,
        dale_mode: str = "fixed",
        exc_fraction: float = 0.8,
        ei_balance: bool = True,
        dt_ms: float = 1.0,
        tau_mem_ms: float = 10.0,
        tau_syn_ms: float = 5.0,
        tau_out_ms: float = 10.0,
        tau_adapt_ms: float = 200.0,
        adapt_strength: float = 0.07,
        threshold: float = 1.0,
        refractory_ms: float = 0.0,
        reset: str = "zero",
        surrogate: str = "superspike",
        surrogate_scale: float | None = None,
        discretisation: str = "default",
        input_scale: float = 0.2,
        recurrent_scale: float = 0.2,
        readout_scale: float = 0.2,
        self_connections: bool = True,
        connection_density: float = 1.0,
        seed: int = 0,
        backend: str = "auto",
        use_fast_path: bool | None = None,
    ):
        super().__init__()
        backend = check_backend(backend_from_legacy(backend, use_fast_path), CLASSIFIER_BACKENDS)
        _check_options(n_in, n_hidden, n_out, neuron, reset, surrogate, exc_fraction, refractory_ms)
        check_discretisation(discretisation, neuron)
        check_dale_recurrent(dale, recurrent)
        self.init_kwargs = dict(
            n_in=n_in, n_hidden=n_hidden, n_out=n_out, neuron=neuron, recurrent=recurrent,
            dale=dale, dale_mode=dale_mode, exc_fraction=exc_fraction, ei_balance=ei_balance,
            dt_ms=dt_ms, tau_mem_ms=tau_mem_ms, tau_syn_ms=tau_syn_ms, tau_out_ms=tau_out_ms,
            tau_adapt_ms=tau_adapt_ms, adapt_strength=adapt_strength, threshold=threshold,
            refractory_ms=refractory_ms, reset=reset, surrogate=surrogate,
            surrogate_scale=surrogate_scale, discretisation=discretisation,
            input_scale=input_scale,
            recurrent_scale=recurrent_scale, readout_scale=readout_scale,
            self_connections=self_connections, connection_density=connection_density,
            seed=seed, backend=backend,
        )  # fmt: skip
        self.n_in, self.n_hidden, self.n_out = int(n_in), int(n_hidden), int(n_out)
        self.neuron = neuron
        self.recurrent = bool(recurrent)
        self.dale = bool(dale)
        self.dale_mode = dale_mode
        self.reset = reset
        self.surrogate = surrogate
        self.surrogate_scale = resolve_surrogate_scale(surrogate, surrogate_scale)
        self.discretisation = discretisation
        self.threshold = float(threshold)
        self.adapt_strength = float(adapt_strength)
        self.alpha = nrn.decay(dt_ms, tau_syn_ms)
        self.beta = nrn.decay(dt_ms, tau_mem_ms)
        self.kappa = nrn.decay(dt_ms, tau_out_ms)
        self.rho = nrn.decay(dt_ms, tau_adapt_ms)
        self.refractory_steps = int(round(refractory_ms / dt_ms))
        self.backend = backend
        self._init_weights(
            torch.Generator().manual_seed(int(seed)),
            exc_fraction=exc_fraction,
            ei_balance=ei_balance,
            scales=(input_scale, recurrent_scale, readout_scale),
            self_connections=self_connections,
            connection_density=connection_density,
        )

    def _init_weights(
        self,
        generator: torch.Generator,
        *,
        exc_fraction: float,
        ei_balance: bool,
        scales: tuple[float, float, float],
        self_connections: bool,
        connection_density: float,
    ) -> None:
        """Draw, in this order from ``generator``: the neuron identities (Dale), W_in, V, W_out.

        ``scales`` (input, recurrent, readout) are the weight std times sqrt(fan-in). Under
        Dale's law W_in is drawn non-negative (half-normal, same root-mean-square) and kept so by
        a ``DaleSign`` of all-excitatory inputs; V gets the hidden neurons' identities (E–I
        balanced at init); W_out stays free.
        """
        input_scale, recurrent_scale, readout_scale = scales
        n_in, n_hidden, n_out = self.n_in, self.n_hidden, self.n_out
        signs = draw_neuron_signs(n_hidden, exc_fraction, generator) if self.dale else None
        input_signs = torch.ones(n_in) if self.dale else None
        self.w_in = nn.Parameter(
            init_signed_weight(
                n_hidden, n_in, input_scale / math.sqrt(n_in), generator, signs=input_signs
            )
        )
        if self.recurrent:
            add_recurrent_weight(
                self,
                "w_rec",
                n_hidden,
                recurrent_scale / math.sqrt(n_hidden),
                generator,
                signs=signs,
                ei_balance=ei_balance,
                self_connections=self_connections,
                connection_density=connection_density,
            )
        else:
            self.w_rec = None
        self.w_out = nn.Parameter(
            init_signed_weight(n_out, n_hidden, readout_scale / math.sqrt(n_hidden), generator)
        )
        self.b_out = nn.Parameter(torch.zeros(n_out))
        if self.dale:
            parametrize.register_parametrization(self, "w_in", DaleSign(input_signs))
            parametrize.register_parametrization(
                self, "w_rec", make_dale_parametrization(self.dale_mode, signs)
            )

    # ------------------------------------------------------------------ weights and constraints

    def effective_weights(self) -> dict[str, Tensor | None]:
        """The weights the dynamics use (Dale's parametrizations and masks applied), with graph:
        ``w_in`` (H, C), ``w_rec`` (H, H) or None, ``w_out`` (O, H), ``b_out`` (O,). Under Dale's
        law W_in >= 0 and every column j of ``w_rec`` has the sign of neuron j."""
        w_rec = None
        if self.recurrent:
            w_rec = self.w_rec * (self.structural_mask * self.connection_mask)
        return {"w_in": self.w_in, "w_rec": w_rec, "w_out": self.w_out, "b_out": self.b_out}

    def recurrent_weight(self) -> Tensor | None:
        """Effective recurrent matrix (H, H), W[i, j] from presynaptic j to postsynaptic i,
        detached (for analysis); None without recurrence."""
        if not self.recurrent:
            return None
        return self.effective_weights()["w_rec"].detach().clone()

    def neuron_sign(self) -> Tensor | None:
        """(H,) identity of the hidden neurons (+1 excitatory, -1 inhibitory), or None."""
        if not self.dale:
            return None
        return self.parametrizations.w_rec[0].neuron_sign()

    def set_connection_mask(self, mask) -> None:
        """Keep only the recurrent connections where ``mask`` (H, H) is 1/True, in every later
        forward pass (ablation). The structural mask (self-connections, sparsity) still applies."""
        if not self.recurrent:
            raise ValueError("this SpikingClassifier has no recurrent connections to mask")
        self.connection_mask.copy_(check_mask(mask, self.n_hidden, self.connection_mask))

    # ------------------------------------------------------------------------------ dynamics

    def neuron_params(self, w_rec: Tensor | None):
        """Step-function parameters (``LIFParams`` / ``LIFSynParams`` / ``ALIFParams``)."""
        common = dict(
            threshold=self.threshold,
            reset=self.reset,
            surrogate=self.surrogate,
            surrogate_scale=self.surrogate_scale,
            refractory_steps=self.refractory_steps,
            recurrent_weight=w_rec,
        )
        if self.neuron == "lif_syn":
            return nrn.LIFSynParams(alpha=self.alpha, beta=self.beta, **common)
        if self.neuron == "lif":
            return nrn.LIFParams(beta=self.beta, **common)
        return nrn.ALIFParams(
            beta=self.beta, rho=self.rho, adapt_strength=self.adapt_strength, **common
        )

    def step_function(self):
        """The pure step function of the hidden neurons (``neurons.lif_syn_step``,
        ``lif_syn_spytorch_step``, ``lif_step`` or ``alif_step``), to run with
        ``neuron_params``."""
        if self.discretisation == "spytorch":
            return nrn.lif_syn_spytorch_step
        return {"lif_syn": nrn.lif_syn_step, "lif": nrn.lif_step, "alif": nrn.alif_step}[
            self.neuron
        ]

    def readout_step(self):
        """The readout's step function and its parameters: ``neurons.leaky_readout_step``, or
        ``spytorch_readout_step`` (drive filtered with alpha, output with kappa)."""
        if self.discretisation == "spytorch":
            return nrn.spytorch_readout_step, nrn.SpyTorchReadoutParams(self.alpha, self.kappa)
        return nrn.leaky_readout_step, nrn.LeakyReadoutParams(self.kappa)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> ClassifierState:
        """Zero state for a batch of ``batch_size`` sequences."""
        device = self.w_in.device if device is None else device
        dtype = self.w_in.dtype if dtype is None else dtype
        make = {
            "lif_syn": nrn.lif_syn_initial_state,
            "lif": nrn.lif_initial_state,
            "alif": nrn.alif_initial_state,
        }[self.neuron]
        neuron_state = make(batch_size, self.n_hidden, device=device, dtype=dtype)
        y = torch.zeros(batch_size, self.n_out, device=device, dtype=dtype)
        if self.discretisation == "spytorch":
            readout = nrn.SpyTorchReadoutState(y.clone(), y)
        else:
            readout = nrn.LeakyReadoutState(y)
        return ClassifierState(neuron_state, readout)

    @property
    def dynamics(self) -> tuple[str, str]:
        """The names in ``models.rollout`` of the hidden layer's and the readout's dynamics."""
        if self.discretisation == "spytorch":
            return "lif_syn_spytorch", "spytorch_readout"
        return self.neuron, "leaky_readout"

    def available_backends(self, state=None, return_state: bool = False) -> tuple[str, ...]:
        """The backends that can run ``forward`` from ``state`` (``rollout.available_backends``
        of the hidden layer; the readout's fused loop runs wherever the layer's does)."""
        hidden = None if state is None else state.neuron
        params = self.neuron_params(None)
        return available_backends(self.dynamics[0], hidden, params, needs_state=return_state)

    def forward_backend(self, state=None, return_state: bool = False) -> str:
        """The backend ``forward`` runs on from ``state``: "torch" or "reference"."""
        return choose_backend(self.backend, self.available_backends(state, return_state))

    def forward(self, x: Tensor, state: ClassifierState | None = None, return_state: bool = False):
        """Run the network over a sequence.

        Args:
            x: (T, B, n_in) input (spikes or currents), time-major.
            state: ``ClassifierState`` to continue from (default: zero state).
            return_state: also return the final ``ClassifierState``.
        Returns:
            readout (T, B, n_out), spikes (T, B, n_hidden) [, final state].
        """
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != self.n_in:
            shape = tuple(getattr(x, "shape", ()))
            raise ValueError(
                f"SpikingClassifier expects input of shape (T, B, {self.n_in}), got {shape}"
            )
        if x.shape[0] == 0:
            raise ValueError("input sequence has no time steps (T = 0)")
        if x.is_sparse:
            x = x.to_dense()
        weights = self.effective_weights()
        x = x.to(weights["w_in"].dtype)
        params = self.neuron_params(weights["w_rec"])
        if self.forward_backend(state, return_state) == "torch":
            current = fast_lif.spike_input_projection(x, weights["w_in"])
            spikes, _ = run_rollout("lif_syn", None, params, current, backend="torch",
                                    needs_state=False)  # fmt: skip
            drive = F.linear(spikes, weights["w_out"], weights["b_out"])
            readout, _ = run_rollout("leaky_readout", None, nrn.LeakyReadoutParams(self.kappa),
                                     drive, backend="torch", needs_state=False)  # fmt: skip
            return readout, spikes
        if state is None:
            state = self.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
        hidden, readout_dynamics = self.dynamics
        current = F.linear(x, weights["w_in"])
        spikes, neuron_state = run_rollout(hidden, state.neuron, params, current)
        drive = F.linear(spikes, weights["w_out"], weights["b_out"])
        _, readout_params = self.readout_step()
        readout, readout_state = run_rollout(readout_dynamics, state.readout, readout_params, drive)
        if return_state:
            return readout, spikes, ClassifierState(neuron_state, readout_state)
        return readout, spikes
