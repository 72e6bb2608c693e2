"""The spiking activity network: LIF neurons with synaptic current, one per recorded neuron,
fed back their own read-out output (``dynamics.spiking_activity``; ``models.activity``
describes both networks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurocircuit.models import neurons as nrn
from neurocircuit.models.activity_network import _ActivityNetwork, inverse_softplus
from neurocircuit.models.constraints import keep_diagonal
from neurocircuit.models.dynamics.spiking_activity import (
    SpikingActivityParams,
    SpikingActivityState,
    read_out,
    spiking_activity_initial_state,
)
from neurocircuit.models.rollout import rollout as run_rollout
from neurocircuit.models.surrogates import check_surrogate, resolve_surrogate_scale

READOUTS = ("diagonal", "full")


class SpikingActivityNetwork(_ActivityNetwork):
    """LIF-with-synapse network, one spiking unit per recorded neuron, fed back its output.

    Per frame, the units receive the previous output y_{t-1} through W (N, N) and run
    ``steps_per_frame`` sub-steps of dt / steps_per_frame each (the input per sub-step divided
    by steps_per_frame, so the charge per frame does not depend on it); their spikes are
    low-pass filtered (r in [0, 1]) and read out through a linear map and a sigmoid. The
    equations are in ``dynamics.spiking_activity``. Readout "diagonal" (default): unit i is
    recorded neuron i, g > 0 by softplus; readout "full": W_out (N, N) starts as g * I.

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
        backend: "auto", "reference", "torch" or "compiled" (``models.backend``): the loop
            that runs ``rollout``; "auto" takes the compiled loops on the CPU, the fused torch
            loops on CUDA, the reference loop of ``spiking_activity_step`` elsewhere.
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
        backend: str = "auto",
        use_fast_path: bool | None = None,
    ):
        super().__init__()
        self._init_backend(backend, use_fast_path)
        self.init_kwargs = dict(
            n_units=n_units, dale=dale, dale_mode=dale_mode, exc_fraction=exc_fraction,
            ei_balance=ei_balance, dt=dt, steps_per_frame=steps_per_frame, tau_mem=tau_mem,
            tau_syn=tau_syn, tau_out=tau_out, threshold=threshold, reset=reset,
            surrogate=surrogate, surrogate_scale=surrogate_scale, weight_scale=weight_scale,
            bias_current=bias_current, readout=readout, readout_gain=readout_gain,
            readout_bias=readout_bias, self_connections=self_connections,
            connection_density=connection_density, seed=seed, backend=self.backend,
        )  # fmt: skip
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
        self._init_recurrent(self.init_kwargs)
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

    def frame_params(self, p: dict[str, Tensor] | None = None) -> SpikingActivityParams:
        """Parameters of ``dynamics.spiking_activity_step`` from the effective parameters ``p``
        (``effective_parameters()``, computed when not given)."""
        p = self.effective_parameters() if p is None else p
        return SpikingActivityParams(
            neuron=self.neuron_params(), lowpass=nrn.LowPassParams(self.kappa),
            weight=p["weight"], bias_current=p["bias_current"], readout_bias=p["readout_bias"],
            readout_gain=p.get("readout_gain"), readout_weight=p.get("readout_weight"),
            steps_per_frame=self.steps_per_frame,
        )  # fmt: skip

    def read_out(self, r: Tensor, p: dict[str, Tensor] | None = None) -> Tensor:
        """Output y (B, N) in (0, 1) from filtered spikes r (B, N) (``dynamics.spiking_activity
        .read_out``); ``p`` from ``effective_parameters()`` (computed when not given)."""
        return read_out(r, self.frame_params(p))

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
        return spiking_activity_initial_state(x0, r0.detach())

    def rollout(
        self, state: SpikingActivityState, n_steps: int
    ) -> tuple[Tensor, SpikingActivityState]:
        """The next ``n_steps`` frames' outputs (n_steps, B, N) from ``state``, and the final
        state, on ``backend`` (``models.rollout``)."""
        params = self.frame_params()
        return run_rollout("spiking_activity", state, params, None, int(n_steps), self.backend)
