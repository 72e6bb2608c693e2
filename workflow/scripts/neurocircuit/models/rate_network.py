"""The rate activity network: Wilson–Cowan units (``dynamics.wilson_cowan``, both forms), one
per recorded neuron, rolled out on its own rates (``models.activity`` describes both networks).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurocircuit.models import neurons as nrn
from neurocircuit.models.activity_network import _ActivityNetwork, inverse_softplus
from neurocircuit.models.rollout import rollout as run_rollout

WILSON_COWAN_FORMS = ("default", "neurotorch")
"""Forms of ``RateActivityNetwork``'s Wilson–Cowan units (its ``wilson_cowan`` argument)."""


class RateActivityNetwork(_ActivityNetwork):
    """Wilson–Cowan network, one rate unit per recorded neuron, in one of two forms.

    The equations of both forms are in ``dynamics.wilson_cowan``: ``wilson_cowan="default"``
    (``wilson_cowan_step``, exact exponential decay d = exp(-dt / tau)) and
    ``wilson_cowan="neurotorch"``, NeuroTorch's WilsonCowanLayer (Gince et al. 2024;
    ``wilson_cowan_neurotorch_step``, forward Euler, h = dt / tau), with a learnable transition
    rate r per unit (``transition()``). NeuroTorch 0.0.2 learns W, mu (= b), r (as sqrt_r**2 >= 0,
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
        backend: "auto", "reference", "torch" or "compiled" (``models.backend``): the loop
            that runs ``rollout``; "auto" takes the compiled loops on the CPU, the fused torch
            loops on CUDA, the reference loop of ``wilson_cowan_step`` elsewhere (other dtypes,
            an ``external_input``).
        use_fast_path: deprecated (True: backend "auto", False: "reference").
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
        backend: str = "auto",
        use_fast_path: bool | None = None,
    ):
        super().__init__()
        self._init_backend(backend, use_fast_path)
        self.init_kwargs = dict(
            n_units=n_units, dale=dale, dale_mode=dale_mode, exc_fraction=exc_fraction,
            ei_balance=ei_balance, dt=dt, tau=tau, learn_tau=learn_tau, gain=gain,
            threshold=threshold, weight_scale=weight_scale, self_connections=self_connections,
            connection_density=connection_density, wilson_cowan=wilson_cowan,
            transition=transition, learn_transition=learn_transition, seed=seed,
            backend=self.backend,
        )  # fmt: skip
        self.wilson_cowan = wilson_cowan
        self.dt = float(dt)
        self.tau_min = _tau_min(wilson_cowan, self.dt, tau, transition)
        self._init_recurrent(self.init_kwargs)
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

    @property
    def dynamics(self) -> str:
        """The form's name in ``models.rollout``: "wilson_cowan" or "wilson_cowan_neurotorch"."""
        return "wilson_cowan_neurotorch" if self.wilson_cowan == "neurotorch" else "wilson_cowan"

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

        ``external_input`` (n_steps, B, N) adds a drive I_t (default none: autonomous). Runs
        on ``backend`` (``models.rollout``; the fused loops take no external input)."""
        params = self.step_params()
        return run_rollout(self.dynamics, state, params, external_input, int(n_steps), self.backend)


def _tau_min(form: str, dt: float, tau: float, transition: float) -> float:
    """The lower bound of tau (dt / 10, or dt in the neurotorch form, so that h = dt / tau < 1);
    a clear ValueError for a bad form, tau or transition."""
    if form not in WILSON_COWAN_FORMS:
        raise ValueError(f"wilson_cowan must be one of {WILSON_COWAN_FORMS}, got {form!r}")
    nrn.decay(dt, tau)  # validates both
    if form == "neurotorch":
        if not tau > dt:
            raise ValueError(
                f"tau must exceed dt = {dt} in the neurotorch form (forward Euler), got {tau}"
            )
        if not 0 < transition < 1:
            raise ValueError(f"transition must be in (0, 1), got {transition}")
        return dt
    tau_min = dt / 10.0
    if not tau > tau_min:
        raise ValueError(f"tau must exceed tau_min = dt / 10 = {tau_min}, got {tau}")
    return tau_min
