"""Networks that reproduce recorded activity: one recurrent unit per recorded neuron.

Both networks are rolled out autonomously from one recorded frame x0 (B, N) with values in
[0, 1] and fed back their own output; ``forward(x0, n_steps)`` returns (n_steps, B, N) in
[0, 1] where **output[0] is x0 itself** (the given frame, not a prediction) and output[k] is the
prediction of frame k. So a rollout of T steps lines up with a recording of T frames.

- ``RateActivityNetwork``: Wilson–Cowan rate units (``neurons.wilson_cowan_step``) with
  learnable time constants, gains and thresholds (positive by softplus parametrizations);
  ``wilson_cowan="neurotorch"`` runs NeuroTorch's form instead
  (``neurons.wilson_cowan_neurotorch_step``: a learnable transition term (1 - r x), forward
  Euler).
- ``SpikingActivityNetwork``: LIF neurons with synaptic current driven by the fed-back output,
  their spikes low-pass filtered (r_t = kappa r_{t-1} + (1 - kappa) z_t) and read out one to
  one (the default ``readout="diagonal"``) through an affine map and a sigmoid,
  y_t = sigmoid(g r_t + c).

The only coupling between units is, by default, the recurrent matrix W (N, N), [post, pre]:
unit k reaches unit i through W[i, k] alone, so Dale's law on W (a parametrization, see
``constraints``) is Dale's law from unit to unit. ``recurrent_weight()`` returns W with Dale's
law and masks applied; ``coupling_input(state)`` is the input every unit receives from the
others at the next step (the path of the plain rollout loop; the fused kernels that rollouts
run on by default compute the same product); ``effective_connectivity()`` is the unit-to-unit
matrix (W); ``dale_on_every_path()`` says whether every unit's influence on every other has
that unit's sign; ``set_connection_mask`` removes connections (ablation) from every later
forward pass.

Rollouts run on the fused kernels of ``fast_activity`` (no per-step autograd graph, a
hand-written backward through time; bitwise the same outputs as the plain loop) wherever
``fused_rollout_applies``: float32 or float64 on the CPU or CUDA, without ``external_input``.
``use_fast_path=False`` keeps the plain loop of step functions, the reference the kernels are
tested against (tests/unit/test_fast_activity.py).

One non-default option breaks this: the spiking network's ``readout="full"``, kept to reproduce
NeuroTorch's spiking model (Gince et al. 2024), whose output layer W_out (N, N) mixes every
unit's filtered spikes before they are fed back through W. It is a second coupling path: unit k
reaches unit i through W[i, j] sigmoid'(.) W_out[j, k] for every j, and W_out's off-diagonal
entries have no sign constraint, so that influence can have either sign even when W obeys Dale's
law (``dale_on_every_path()`` is False there).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from neurocircuit.models import fast_activity
from neurocircuit.models import neurons as nrn
from neurocircuit.models.constraints import (
    add_recurrent_weight,
    check_exc_fraction,
    check_mask,
    draw_neuron_signs,
    keep_diagonal,
    make_dale_parametrization,
)
from neurocircuit.models.surrogates import check_surrogate, resolve_surrogate_scale


def inverse_softplus(value: float) -> float:
    """p with softplus(p) = value (value > 0)."""
    if not value > 0:
        raise ValueError(f"expected a positive value, got {value}")
    return value + math.log(-math.expm1(-value))


def check_initial_frame(x0, n_units: int) -> Tensor:
    """x0 as a (B, N) tensor of activity in [0, 1]; a clear ValueError otherwise."""
    if not isinstance(x0, Tensor) or x0.dim() != 2 or x0.shape[1] != n_units:
        shape = tuple(getattr(x0, "shape", ()))
        raise ValueError(f"initial frame x0 must have shape (B, {n_units}), got {shape}")
    if not bool(torch.isfinite(x0).all()):
        raise ValueError("initial frame x0 contains NaN or infinite values")
    if bool((x0 < 0).any()) or bool((x0 > 1).any()):
        raise ValueError(
            "initial frame x0 must hold activity normalised to [0, 1], got values in "
            f"[{float(x0.min()):.4g}, {float(x0.max()):.4g}]"
        )
    return x0


class _ActivityNetwork(nn.Module):
    """Shared parts: the recurrent matrix with Dale's law and masks, rollouts from a frame."""

    def _init_recurrent(
        self,
        n_units: int,
        *,
        dale: bool,
        dale_mode: str,
        exc_fraction: float,
        ei_balance: bool,
        weight_scale: float,
        self_connections: bool,
        connection_density: float,
        generator: torch.Generator,
    ) -> None:
        if int(n_units) < 1:
            raise ValueError(f"n_units must be a positive integer, got {n_units}")
        check_exc_fraction(exc_fraction)
        self.n_units = int(n_units)
        self.dale = bool(dale)
        self.dale_mode = dale_mode
        signs = draw_neuron_signs(n_units, exc_fraction, generator) if dale else None
        add_recurrent_weight(
            self,
            "weight",
            n_units,
            weight_scale / math.sqrt(n_units),
            generator,
            signs=signs,
            ei_balance=ei_balance,
            self_connections=self_connections,
            connection_density=connection_density,
        )
        if self.dale:
            parametrize.register_parametrization(
                self, "weight", make_dale_parametrization(dale_mode, signs)
            )

    def fused_rollout_applies(self, *state: Tensor) -> bool:
        """Whether ``rollout`` runs on the fused kernels of ``fast_activity`` (no per-step
        graph, hand-written backward through time) for a state held in ``state``: with
        ``use_fast_path`` and all tensors float32 or float64 on the model's CPU or CUDA device.
        Otherwise the plain loop of step functions runs (same outputs, bitwise with
        ``kernels = "torch"``, to rounding with the compiled loops that "auto" runs on the
        CPU)."""
        return self.use_fast_path and fast_activity.fused_rollout_applies(
            self.structural_mask, *state
        )

    def effective_recurrent_weight(self) -> Tensor:
        """W (N, N) as the dynamics use it (Dale and masks applied), with graph."""
        return self.weight * (self.structural_mask * self.connection_mask)

    def recurrent_weight(self) -> Tensor:
        """Effective signed matrix (N, N), W[i, j] from presynaptic j to postsynaptic i,
        detached (for analysis and ablation)."""
        return self.effective_recurrent_weight().detach().clone()

    def neuron_sign(self) -> Tensor | None:
        """(N,) identities (+1 excitatory, -1 inhibitory) under Dale's law, else None."""
        if not self.dale:
            return None
        return self.parametrizations.weight[0].neuron_sign()

    def dale_on_every_path(self) -> bool:
        """Whether Dale's law holds from unit to unit: every unit's influence on every other
        unit, along every path of the network, has that unit's sign (``neuron_sign()``).

        True for a Dale network whose only coupling is W; False without Dale's law (there is no
        identity to keep) and for the spiking network's full readout (a second, unsigned path).
        """
        return self.dale

    def effective_connectivity(self) -> Tensor:
        """Unit-to-unit influence (N, N), [post, pre], detached: W, the only coupling here
        (``recurrent_weight()``). This is the matrix to export, plot and ablate."""
        return self.recurrent_weight()

    def set_connection_mask(self, mask) -> None:
        """Keep only connections where ``mask`` (N, N), [post, pre], is 1/True in every later
        forward pass (ablation). The structural mask (self-connections, sparsity) still
        applies."""
        self.connection_mask.copy_(check_mask(mask, self.n_units, self.connection_mask))

    def forward(self, x0: Tensor, n_steps: int) -> Tensor:
        """Autonomous rollout from frame x0 (B, N) in [0, 1].

        Returns (n_steps, B, N) in [0, 1]: output[0] is x0, output[k] the prediction of frame k
        (the network fed back its own previous output)."""
        x0 = check_initial_frame(x0, self.n_units)
        n_steps = int(n_steps)
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        x0 = x0.to(self.structural_mask.dtype)
        if n_steps == 1:
            return x0.unsqueeze(0)
        outputs, _ = self.rollout(self.initial_state(x0), n_steps - 1)
        return torch.cat([x0.unsqueeze(0), outputs], dim=0)


WILSON_COWAN_FORMS = ("default", "neurotorch")
"""Forms of ``RateActivityNetwork``'s Wilson–Cowan units (its ``wilson_cowan`` argument)."""


class RateActivityNetwork(_ActivityNetwork):
    """Wilson–Cowan network, one rate unit per recorded neuron, in one of two forms.

    ``wilson_cowan="default"``: r_t = d r_{t-1} + (1 - d) sigmoid(g (W r_{t-1}) - b),
    d = exp(-dt / tau) (``neurons.wilson_cowan_step``; exact for a drive held constant over the
    step).

    ``wilson_cowan="neurotorch"``: NeuroTorch's WilsonCowanLayer (Gince et al. 2024), rates x,
    x_t = (1 - h) x_{t-1} + h (1 - r x_{t-1}) sigmoid(g (W x_{t-1}) - b), h = dt / tau
    (``neurons.wilson_cowan_neurotorch_step``, forward Euler), with a learnable transition rate
    r per unit (``transition()``). NeuroTorch 0.0.2 learns W, mu (= b), r (as sqrt_r**2 >= 0,
    no upper bound) and one shared tau (as sqrt_tau**2 > 0), so its rates can leave [0, 1]
    (where r x > 1 with a large dt / tau, or once tau < dt). Here r is kept in (0, 1) by a
    sigmoid and tau above dt (tau_min = dt), which keeps every rate in [0, 1]; tau and g are
    per unit as in the default form (NeuroTorch has g = 1).

    Args:
        n_units: number of units N (recorded neurons).
        dale, dale_mode, exc_fraction, ei_balance: Dale's law and E–I balance of W.
        dt: time step (same unit as ``tau``, e.g. frames or s).
        tau: initial time constant of every unit (learnable when ``learn_tau``), kept above
            ``tau_min`` by tau = tau_min + softplus(p); tau_min = dt / 10 (default form) or dt
            (neurotorch form, so that h = dt / tau < 1).
        gain: initial gain g (learnable, kept positive by softplus).
        threshold: initial threshold b (learnable, any real value).
        wilson_cowan: "default" or "neurotorch" (the form above).
        transition: initial transition rate r in (0, 1) of the neurotorch form (learnable when
            ``learn_transition``, r = sigmoid(p)); unused by the default form.
        weight_scale: W ~ N(0, weight_scale**2 / N) (the E–I version has the same RMS);
            N(0, 1/N) works, N(0, 1) saturates the sigmoid.
        self_connections, connection_density: structural mask of W.
        seed: seeds the initial weights and identities.
        use_fast_path: run ``rollout`` on the fused kernels of ``fast_activity`` where they
            apply (``fused_rollout_applies``; not with ``external_input``); False keeps the
            plain loop of step functions, the reference the kernels are tested against.
    """

    def __init__(
        self,
        n_units: int,
        *,
        dale: bool = False,
        dale_mode: str = "fixed",
        exc_fraction: float = 0.8,
        ei_balance: bool = True,
        dt: float = 1.0,
        tau: float = 5.0,
        learn_tau: bool = True,
        gain: float = 1.0,
        threshold: float = 0.0,
        weight_scale: float = 1.0,
        self_connections: bool = True,
        connection_density: float = 1.0,
        wilson_cowan: str = "default",
        transition: float = 0.5,
        learn_transition: bool = True,
        seed: int = 0,
        use_fast_path: bool = True,
    ):
        super().__init__()
        self.init_kwargs = dict(
            n_units=n_units, dale=dale, dale_mode=dale_mode, exc_fraction=exc_fraction,
            ei_balance=ei_balance, dt=dt, tau=tau, learn_tau=learn_tau, gain=gain,
            threshold=threshold, weight_scale=weight_scale, self_connections=self_connections,
            connection_density=connection_density, wilson_cowan=wilson_cowan,
            transition=transition, learn_transition=learn_transition, seed=seed,
            use_fast_path=use_fast_path,
        )  # fmt: skip
        self.use_fast_path = bool(use_fast_path)
        # the fused rollouts' time loops: "auto" (compiled on the CPU), "compiled" or "torch"
        self.kernels = "auto"
        if wilson_cowan not in WILSON_COWAN_FORMS:
            raise ValueError(
                f"wilson_cowan must be one of {WILSON_COWAN_FORMS}, got {wilson_cowan!r}"
            )
        nrn.decay(dt, tau)  # validates both
        self.wilson_cowan = wilson_cowan
        self.dt = float(dt)
        if wilson_cowan == "neurotorch":
            self.tau_min = self.dt
            if not tau > self.tau_min:
                raise ValueError(
                    f"tau must exceed dt = {self.tau_min} in the neurotorch form (forward "
                    f"Euler), got {tau}"
                )
            if not 0 < transition < 1:
                raise ValueError(f"transition must be in (0, 1), got {transition}")
        else:
            self.tau_min = self.dt / 10.0
            if not tau > self.tau_min:
                raise ValueError(f"tau must exceed tau_min = dt / 10 = {self.tau_min}, got {tau}")
        generator = torch.Generator().manual_seed(int(seed))
        self._init_recurrent(
            n_units,
            dale=dale,
            dale_mode=dale_mode,
            exc_fraction=exc_fraction,
            ei_balance=ei_balance,
            weight_scale=weight_scale,
            self_connections=self_connections,
            connection_density=connection_density,
            generator=generator,
        )
        self.tau_parameter = nn.Parameter(
            torch.full((n_units,), inverse_softplus(tau - self.tau_min)),
            requires_grad=bool(learn_tau),
        )
        self.gain_parameter = nn.Parameter(torch.full((n_units,), inverse_softplus(gain)))
        self.threshold = nn.Parameter(torch.full((n_units,), float(threshold)))
        if wilson_cowan == "neurotorch":
            self.transition_parameter = nn.Parameter(
                torch.full((n_units,), math.log(transition / (1.0 - transition))),
                requires_grad=bool(learn_transition),
            )

    def tau(self) -> Tensor:
        """(N,) time constants (unit of dt), > tau_min."""
        return self.tau_min + F.softplus(self.tau_parameter)

    def transition(self) -> Tensor:
        """(N,) transition rates r in (0, 1) of the neurotorch form."""
        if self.wilson_cowan != "neurotorch":
            raise ValueError("only the neurotorch Wilson–Cowan form has a transition rate")
        return torch.sigmoid(self.transition_parameter)

    def gain(self) -> Tensor:
        """(N,) gains g > 0."""
        return F.softplus(self.gain_parameter)

    def effective_parameters(self) -> dict[str, Tensor]:
        """Tensors the dynamics use, with graph: weight (N, N), then (N,) each: decay, gain,
        threshold (default form) or dt_over_tau, transition, gain, threshold (neurotorch)."""
        if self.wilson_cowan == "neurotorch":
            return {
                "weight": self.effective_recurrent_weight(),
                "dt_over_tau": self.dt / self.tau(),
                "transition": self.transition(),
                "gain": self.gain(),
                "threshold": self.threshold,
            }
        return {
            "weight": self.effective_recurrent_weight(),
            "decay": torch.exp(-self.dt / self.tau()),
            "gain": self.gain(),
            "threshold": self.threshold,
        }

    def step_params(
        self, effective: dict[str, Tensor] | None = None
    ) -> nrn.WilsonCowanParams | nrn.NeuroTorchWilsonCowanParams:
        """Parameters of the form's step function (``WilsonCowanParams`` or
        ``NeuroTorchWilsonCowanParams``)."""
        p = self.effective_parameters() if effective is None else effective
        if self.wilson_cowan == "neurotorch":
            return nrn.NeuroTorchWilsonCowanParams(
                p["dt_over_tau"], p["transition"], p["gain"], p["threshold"], p["weight"]
            )
        return nrn.WilsonCowanParams(p["decay"], p["gain"], p["threshold"], p["weight"])

    def step_function(self):
        """The form's step function: ``neurons.wilson_cowan_step`` or
        ``neurons.wilson_cowan_neurotorch_step``."""
        if self.wilson_cowan == "neurotorch":
            return nrn.wilson_cowan_neurotorch_step
        return nrn.wilson_cowan_step

    def initial_state(self, x0: Tensor) -> nrn.WilsonCowanState:
        """State holding frame x0 (B, N) as the rates."""
        return nrn.WilsonCowanState(x0)

    def coupling_input(self, state: nrn.WilsonCowanState, weight: Tensor | None = None) -> Tensor:
        """Recurrent input (B, N) each unit receives at the next step, W r (``weight``: the
        effective W, computed when not given). Every rollout step drives the units with it."""
        weight = self.effective_recurrent_weight() if weight is None else weight
        return state.r @ weight.t()

    def rollout(
        self, state: nrn.WilsonCowanState, n_steps: int, external_input: Tensor | None = None
    ) -> tuple[Tensor, nrn.WilsonCowanState]:
        """The next ``n_steps`` frames (n_steps, B, N) from ``state``, and the final state.

        ``external_input`` (n_steps, B, N) adds a drive I_t (default none: autonomous)."""
        p = self.effective_parameters()
        if external_input is None and int(n_steps) >= 1 and self.fused_rollout_applies(state.r):
            rates = fast_activity.rate_rollout(state.r, p, n_steps, self.wilson_cowan, self.kernels)
            return rates, nrn.WilsonCowanState(rates[-1])
        params = self.step_params(p)
        step = self.step_function()
        weight = params.recurrent_weight
        uncoupled = params._replace(recurrent_weight=None)  # W enters through coupling_input
        outputs = []
        for t in range(int(n_steps)):
            drive = self.coupling_input(state, weight)
            if external_input is not None:
                drive = external_input[t] + drive
            r, state = step(drive, state, uncoupled)
            outputs.append(r)
        return torch.stack(outputs), state


class SpikingActivityState(NamedTuple):
    """State of a ``SpikingActivityNetwork``: neurons, low-pass filter, last output (B, N)."""

    neuron: nrn.LIFSynState
    lowpass: nrn.LowPassState
    output: Tensor


READOUTS = ("diagonal", "full")


class SpikingActivityNetwork(_ActivityNetwork):
    """LIF-with-synapse network, one spiking unit per recorded neuron, fed back its output.

    Per frame, the units receive the previous output y_{t-1} through W (N, N) and run
    ``steps_per_frame`` sub-steps of dt / steps_per_frame each (input u = (W y_{t-1} + b_in) /
    steps_per_frame per sub-step, so the charge per frame does not depend on it):

        i <- alpha i + u;  v~ = beta v + i;  z = H(v~ - theta);  reset;
        r <- kappa r + (1 - kappa) z          (low-pass filtered spikes, in [0, 1])

    and the frame's output is read out from r through a linear map and a sigmoid:
    readout "diagonal" (default): y_t = sigmoid(g * r + c) (unit i is recorded neuron i, g > 0
    by softplus); readout "full": y_t = sigmoid(W_out r + c) (W_out (N, N) starts as g * I).

    y_{t-1} is the network's own previous output (the recorded frame x0 at the start). With the
    diagonal readout, W couples the units' activities exactly as in the rate network and is the
    only coupling, so Dale's law on W is Dale's law unit to unit. The full readout reproduces
    NeuroTorch's spiking model (its N x N output layer) and is a second coupling path: unit k's
    filtered spikes reach unit i through W[i, j] sigmoid'(.) W_out[j, k] for every j, and W_out
    is unsigned, so it **breaks Dale's law unit to unit** (``dale_on_every_path()`` is False);
    ablation masks remove its off-diagonal entries together with W's. The initial state has
    v = i = 0 and r_0 chosen so that the diagonal readout of r_0 gives x0 (clipped to [0, 1],
    not differentiated).

    Args:
        n_units: number of units N.
        dale, dale_mode, exc_fraction, ei_balance: Dale's law and E–I balance of W.
        dt: time step of one frame (unit of the taus, e.g. frames).
        steps_per_frame: spiking sub-steps per frame (more: smoother rates, more compute).
        tau_mem, tau_syn, tau_out: membrane, synaptic and output-filter time constants.
        threshold, reset, surrogate, surrogate_scale: spike generation (see ``neurons``).
        weight_scale: W ~ N(0, weight_scale**2 / N).
        bias_current: initial constant input b_in of every unit (learnable).
        readout: "diagonal" (default; W is the only coupling) or "full" (NeuroTorch's output
            layer, for reproducing it; averaging units smooths the binary spikes, but it breaks
            Dale's law unit to unit, see above).
        readout_gain, readout_bias: initial g (or diagonal of W_out) and c (learnable).
        self_connections, connection_density: structural mask of W.
        seed: seeds the initial weights and identities.
        use_fast_path: run ``rollout`` on the fused kernels of ``fast_activity`` where they
            apply (``fused_rollout_applies``); False keeps the plain loop of step functions.
    """

    def __init__(
        self,
        n_units: int,
        *,
        dale: bool = False,
        dale_mode: str = "fixed",
        exc_fraction: float = 0.8,
        ei_balance: bool = True,
        dt: float = 1.0,
        steps_per_frame: int = 1,
        tau_mem: float = 4.0,
        tau_syn: float = 2.0,
        tau_out: float = 4.0,
        threshold: float = 1.0,
        reset: str = "zero",
        surrogate: str = "superspike",
        surrogate_scale: float | None = None,
        weight_scale: float = 1.0,
        bias_current: float = 0.1,
        readout: str = "diagonal",
        readout_gain: float = 2.0,
        readout_bias: float = -1.0,
        self_connections: bool = True,
        connection_density: float = 1.0,
        seed: int = 0,
        use_fast_path: bool = True,
    ):
        super().__init__()
        self.init_kwargs = dict(
            n_units=n_units, dale=dale, dale_mode=dale_mode, exc_fraction=exc_fraction,
            ei_balance=ei_balance, dt=dt, steps_per_frame=steps_per_frame, tau_mem=tau_mem,
            tau_syn=tau_syn, tau_out=tau_out, threshold=threshold, reset=reset,
            surrogate=surrogate, surrogate_scale=surrogate_scale, weight_scale=weight_scale,
            bias_current=bias_current, readout=readout, readout_gain=readout_gain,
            readout_bias=readout_bias, self_connections=self_connections,
            connection_density=connection_density, seed=seed, use_fast_path=use_fast_path,
        )  # fmt: skip
        self.use_fast_path = bool(use_fast_path)
        # the fused rollouts' time loops: "auto" (compiled on the CPU), "compiled" or "torch"
        self.kernels = "auto"
        nrn.check_reset(reset)
        check_surrogate(surrogate)
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if int(steps_per_frame) != steps_per_frame or steps_per_frame < 1:
            raise ValueError(f"steps_per_frame must be a positive integer, got {steps_per_frame}")
        self.dt = float(dt)
        self.steps_per_frame = int(steps_per_frame)
        sub_dt = self.dt / self.steps_per_frame
        self.alpha = nrn.decay(sub_dt, tau_syn)
        self.beta = nrn.decay(sub_dt, tau_mem)
        self.kappa = nrn.decay(sub_dt, tau_out)
        self.threshold = float(threshold)
        self.reset = reset
        self.surrogate = surrogate
        self.surrogate_scale = resolve_surrogate_scale(surrogate, surrogate_scale)
        self.readout = readout
        generator = torch.Generator().manual_seed(int(seed))
        self._init_recurrent(
            n_units,
            dale=dale,
            dale_mode=dale_mode,
            exc_fraction=exc_fraction,
            ei_balance=ei_balance,
            weight_scale=weight_scale,
            self_connections=self_connections,
            connection_density=connection_density,
            generator=generator,
        )
        self.bias_current = nn.Parameter(torch.full((n_units,), float(bias_current)))
        if readout == "diagonal":
            self.readout_gain_parameter = nn.Parameter(
                torch.full((n_units,), inverse_softplus(readout_gain))
            )
        else:
            self.readout_weight = nn.Parameter(torch.eye(n_units) * float(readout_gain))
        self.readout_bias = nn.Parameter(torch.full((n_units,), float(readout_bias)))

    def readout_gain(self) -> Tensor:
        """(N,) gain from a unit's filtered spikes to its own output (the diagonal of W_out)."""
        if self.readout == "diagonal":
            return F.softplus(self.readout_gain_parameter)
        return torch.diagonal(self.readout_weight)

    def effective_readout_weight(self) -> Tensor:
        """W_out (N, N) of the full readout as the dynamics use it, with graph: the connection
        mask's removed (post, pre) pairs are removed here too, off the diagonal (each unit's
        readout of its own spikes stays)."""
        if self.readout != "full":
            raise ValueError("only the full readout has a readout matrix W_out")
        return self.readout_weight * keep_diagonal(self.connection_mask)

    def dale_on_every_path(self) -> bool:
        """Dale's law unit to unit (see the base class): False for the full readout, whose
        W_out is a second, unsigned path between units."""
        return self.dale and self.readout == "diagonal"

    def effective_connectivity(self) -> Tensor:
        """Unit-to-unit influence (N, N), [post, pre], detached.

        Diagonal readout: W (the only coupling). Full readout: W @ W_out, the parameter part of
        the linearised influence of unit k's filtered spikes on unit i's next input,
        d(W y)_i / d r_k = sum_j W[i, j] sigmoid'(a_j) W_out[j, k]. The slopes sigmoid'(a_j)
        (in (0, 1/4]) are left out because they depend on the operating point a = W_out r + c,
        i.e. on the data, and this matrix describes the parameters; each path j keeps its sign
        either way (the sum's sign can differ at a given operating point). For W_out = g I
        (the initial full readout) it is W scaled column by column by g > 0.
        """
        if self.readout == "diagonal":
            return self.recurrent_weight()
        with torch.no_grad():
            return self.effective_recurrent_weight() @ self.effective_readout_weight()

    def effective_parameters(self) -> dict[str, Tensor]:
        """Tensors the dynamics use, with graph: weight (N, N), bias_current (N,), readout_bias
        (N,), and readout_gain (N,) or readout_weight (N, N, masked)."""
        p = {
            "weight": self.effective_recurrent_weight(),
            "bias_current": self.bias_current,
            "readout_bias": self.readout_bias,
        }
        if self.readout == "diagonal":
            p["readout_gain"] = self.readout_gain()
        else:
            p["readout_weight"] = self.effective_readout_weight()
        return p

    def read_out(self, r: Tensor, p: dict[str, Tensor] | None = None) -> Tensor:
        """Output y (B, N) in (0, 1) from filtered spikes r (B, N); ``p`` from
        ``effective_parameters()`` (computed when not given)."""
        p = self.effective_parameters() if p is None else p
        if self.readout == "diagonal":
            return torch.sigmoid(p["readout_gain"] * r + p["readout_bias"])
        return torch.sigmoid(F.linear(r, p["readout_weight"], p["readout_bias"]))

    def coupling_input(self, state: SpikingActivityState, weight: Tensor | None = None) -> Tensor:
        """Recurrent input (B, N) each unit receives at the next frame, W y (``weight``: the
        effective W, computed when not given), where y = ``state.output`` is the read-out of the
        filtered spikes, ``read_out(state.lowpass.r)`` (x0 at the start). Every rollout frame
        drives the units with it plus their bias current."""
        weight = self.effective_recurrent_weight() if weight is None else weight
        return F.linear(state.output, weight)

    def neuron_params(self) -> nrn.LIFSynParams:
        """Step-function parameters of the LIF-with-synapse units (recurrence enters as input)."""
        return nrn.LIFSynParams(
            alpha=self.alpha,
            beta=self.beta,
            threshold=self.threshold,
            reset=self.reset,
            surrogate=self.surrogate,
            surrogate_scale=self.surrogate_scale,
        )

    def initial_state(self, x0: Tensor) -> SpikingActivityState:
        """State at frame x0 (B, N): v = i = 0, output x0, r_0 = readout^-1(x0) clipped to [0, 1]
        (inverting the diagonal of the readout)."""
        with torch.no_grad():
            eps = 1e-4
            logit = torch.logit(x0.clamp(eps, 1 - eps))
            r0 = ((logit - self.readout_bias) / self.readout_gain()).clamp(0.0, 1.0)
            r0 = torch.nan_to_num(r0, nan=0.0)
        zeros = torch.zeros_like(x0)
        neuron = nrn.LIFSynState(zeros, zeros.clone(), zeros.clone(), zeros.clone())
        return SpikingActivityState(neuron, nrn.LowPassState(r0.detach()), x0)

    def rollout(
        self, state: SpikingActivityState, n_steps: int
    ) -> tuple[Tensor, SpikingActivityState]:
        """The next ``n_steps`` frames' outputs (n_steps, B, N) from ``state``, and the final
        state."""
        p = self.effective_parameters()
        neuron = state.neuron
        if int(n_steps) >= 1 and self.fused_rollout_applies(
            neuron.v, neuron.i, state.lowpass.r, state.output
        ):
            outputs, v, i, z, r = fast_activity.spiking_rollout(
                (neuron.v, neuron.i, state.lowpass.r, state.output), p, n_steps,
                alpha=self.alpha, beta=self.beta, kappa=self.kappa, threshold=self.threshold,
                reset=self.reset, surrogate=self.surrogate,
                surrogate_scale=self.surrogate_scale, steps_per_frame=self.steps_per_frame,
                kernels=self.kernels,
            )  # fmt: skip
            neuron = nrn.LIFSynState(v, i, z, neuron.refractory)
            return outputs, SpikingActivityState(neuron, nrn.LowPassState(r), outputs[-1])
        params = self.neuron_params()
        lowpass = nrn.LowPassParams(self.kappa)
        outputs = []
        for _ in range(int(n_steps)):
            current = self.coupling_input(state, p["weight"]) + p["bias_current"]
            if self.steps_per_frame > 1:
                current = current / self.steps_per_frame
            neuron, filtered = state.neuron, state.lowpass
            for _ in range(self.steps_per_frame):
                z, neuron = nrn.lif_syn_step(current, neuron, params)
                _, filtered = nrn.lowpass_step(z, filtered, lowpass)
            state = SpikingActivityState(neuron, filtered, self.read_out(filtered.r, p))
            outputs.append(state.output)
        return torch.stack(outputs), state
