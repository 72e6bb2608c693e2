"""What both activity networks share: the recurrent matrix W with Dale's law and masks, the
``backend`` setting, and the rollout from a recorded frame (``forward``).

``models.activity`` describes the networks; ``rate_network`` and ``spiking_network`` hold them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from neurocircuit.models.backend import (
    DeprecatedFastPathAndKernels,
    backend_from_legacy,
    check_backend,
)
from neurocircuit.models.constraints import (
    add_recurrent_weight,
    check_exc_fraction,
    check_mask,
    draw_neuron_signs,
    make_dale_parametrization,
)


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


class _ActivityNetwork(DeprecatedFastPathAndKernels, nn.Module):
    """Shared parts: the recurrent matrix with Dale's law and masks, rollouts from a frame
    (and the deprecated ``use_fast_path`` and ``kernels``, ``models.backend``)."""

    def _init_recurrent(self, settings: dict) -> None:
        """W (N, N) with Dale's law and masks, from the network's ``init_kwargs`` (``settings``:
        n_units, dale, dale_mode, exc_fraction, ei_balance, weight_scale, self_connections,
        connection_density, and the seed of its generator)."""
        n_units, dale, dale_mode = settings["n_units"], settings["dale"], settings["dale_mode"]
        exc_fraction, weight_scale = settings["exc_fraction"], settings["weight_scale"]
        generator = torch.Generator().manual_seed(int(settings["seed"]))
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
            ei_balance=settings["ei_balance"],
            self_connections=settings["self_connections"],
            connection_density=settings["connection_density"],
        )
        if self.dale:
            parametrize.register_parametrization(
                self, "weight", make_dale_parametrization(dale_mode, signs)
            )

    def _init_backend(self, backend: str, use_fast_path: bool | None) -> None:
        """``backend`` (``models.backend``; the deprecated ``use_fast_path`` still read)."""
        self.backend = check_backend(backend_from_legacy(backend, use_fast_path))

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
