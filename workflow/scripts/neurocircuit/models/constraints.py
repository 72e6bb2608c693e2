"""Biological constraints on connection weights: Dale's law, E–I balance, structural masks.

Weights are stored [post, pre] (``nn.Linear`` layout): column j holds the outgoing weights of
presynaptic neuron j. Dale's law says all of a neuron's outgoing synapses share one sign, so it
constrains columns.

- ``DaleSign`` (dale_mode "fixed"): W = |M| * s[None, :] with a fixed identity s_j = +1
  (excitatory) or -1 (inhibitory) per presynaptic neuron; M is the free parameter.
- ``LearnableDaleSign`` (dale_mode "learnable_sign", NeuroTorch's variant, Gince et al. 2024):
  W = M**2 * tanh(s)[None, :] with a learnable sign parameter s per neuron; every column keeps
  one sign at any time, but a neuron may change identity during learning.

Both are ``torch.nn.utils.parametrize`` parametrizations; one instance is shared by every
weight matrix leaving the same neurons (recurrent and readout), so a neuron's identity is one
number. ``init_signed_weight`` draws the initial weights with the E–I balance.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

DALE_MODES = ("fixed", "learnable_sign")


def check_exc_fraction(exc_fraction: float) -> float:
    """Return the excitatory fraction if it lies in (0, 1], else raise a clear ValueError."""
    if not 0.0 < float(exc_fraction) <= 1.0:
        raise ValueError(f"exc_fraction must lie in (0, 1], got {exc_fraction}")
    return float(exc_fraction)


def draw_neuron_signs(n: int, exc_fraction: float, generator: torch.Generator) -> Tensor:
    """(n,) identities, +1 excitatory / -1 inhibitory: round(exc_fraction * n) excitatory,
    placed at random positions drawn from ``generator``."""
    check_exc_fraction(exc_fraction)
    n_exc = int(round(exc_fraction * n))
    signs = torch.full((n,), -1.0)
    signs[:n_exc] = 1.0
    return signs[torch.randperm(n, generator=generator)]


def init_signed_weight(
    n_post: int,
    n_pre: int,
    std: float,
    generator: torch.Generator,
    *,
    signs: Tensor | None = None,
    ei_balance: bool = True,
) -> Tensor:
    """Initial weight matrix (n_post, n_pre) with overall root-mean-square ``std``.

    Without ``signs``: W ~ N(0, std**2). With ``signs`` (per presynaptic neuron): magnitudes
    |N(0, 1)| times the column's sign. With ``ei_balance``, inhibitory magnitudes are scaled by
    n_exc / n_inh, so each row's expected net input E[sum_j W_ij] is zero (for presynaptic
    activity of equal mean); the whole matrix is then rescaled to root-mean-square ``std``.
    """
    if signs is None:
        return torch.randn(n_post, n_pre, generator=generator) * std
    signs = signs.to(torch.get_default_dtype())
    magnitude = torch.randn(n_post, n_pre, generator=generator).abs()
    n_exc = int((signs > 0).sum())
    n_inh = n_pre - n_exc
    column_scale = torch.ones(n_pre)
    if ei_balance and n_exc > 0 and n_inh > 0:
        column_scale[signs < 0] = n_exc / n_inh
    mean_square = float((column_scale**2).mean())  # E[|N(0,1)|^2] = 1
    weight = magnitude * (column_scale * signs)[None, :]
    return weight * (std / math.sqrt(mean_square))


def structural_mask(
    n: int,
    generator: torch.Generator,
    *,
    self_connections: bool = True,
    density: float = 1.0,
) -> Tensor:
    """(n, n) 0/1 mask of existing recurrent connections: no diagonal when
    ``self_connections`` is False, and each other connection kept with probability ``density``."""
    if not 0.0 < density <= 1.0:
        raise ValueError(f"connection density must lie in (0, 1], got {density}")
    mask = torch.ones(n, n)
    if density < 1.0:
        mask = (torch.rand(n, n, generator=generator) < density).to(mask.dtype)
    if not self_connections:
        mask.fill_diagonal_(0.0)
    return mask


def add_recurrent_weight(
    module: nn.Module,
    name: str,
    n: int,
    std: float,
    generator: torch.Generator,
    *,
    signs: Tensor | None,
    ei_balance: bool,
    self_connections: bool,
    connection_density: float,
) -> None:
    """Give ``module`` a recurrent weight parameter ``name`` (n, n) [post, pre] drawn by
    :func:`init_signed_weight`, and the two 0/1 buffers its effective weight is multiplied by:
    ``structural_mask`` (:func:`structural_mask`: self-connections, sparsity; drawn after the
    weights from the same generator) and ``connection_mask`` (all ones; ablation edits it)."""
    weight = init_signed_weight(n, n, std, generator, signs=signs, ei_balance=ei_balance)
    setattr(module, name, nn.Parameter(weight))
    mask = structural_mask(
        n, generator, self_connections=self_connections, density=connection_density
    )
    module.register_buffer("structural_mask", mask)
    module.register_buffer("connection_mask", torch.ones(n, n))


class DaleSign(nn.Module):
    """Dale's law with fixed identities: W = |M| * sign[None, :] (sign per presynaptic column).

    ``sign`` is a buffer (+1 excitatory, -1 inhibitory). ``right_inverse`` maps a signed weight
    back to its magnitude, so assigning a weight that obeys the signs round-trips exactly.
    """

    def __init__(self, sign: Tensor):
        super().__init__()
        self.register_buffer("sign", sign.detach().clone().to(torch.get_default_dtype()))

    def forward(self, magnitude: Tensor) -> Tensor:
        return magnitude.abs() * self.sign.to(magnitude.dtype)

    def right_inverse(self, weight: Tensor) -> Tensor:
        return weight.abs()

    def neuron_sign(self) -> Tensor:
        """(n_pre,) current identity, +1 / -1."""
        return self.sign.detach().clone()


class LearnableDaleSign(nn.Module):
    """NeuroTorch's Dale variant with a learnable identity: W = M**2 * tanh(s)[None, :].

    Gince et al. (2024), NeuroTorch (``force_dale_law`` with ``sign_activation = tanh``): the
    sign parameter s (one per presynaptic neuron) is learned with the weights; every column has
    the sign of tanh(s_j) at any time, so Dale's law holds, but identities may flip. s starts at
    +/-1 from the drawn identities.
    """

    def __init__(self, sign: Tensor):
        super().__init__()
        self.sign_parameter = nn.Parameter(sign.detach().clone().to(torch.get_default_dtype()))

    def forward(self, magnitude: Tensor) -> Tensor:
        return magnitude.square() * torch.tanh(self.sign_parameter).to(magnitude.dtype)

    def right_inverse(self, weight: Tensor) -> Tensor:
        scale = torch.tanh(self.sign_parameter.detach()).abs().clamp(min=1e-12)
        return (weight.abs() / scale.to(weight.dtype)).sqrt()

    def neuron_sign(self) -> Tensor:
        """(n_pre,) current identity, +1 / -1 (sign of tanh(s))."""
        sign = torch.sign(self.sign_parameter.detach())
        return torch.where(sign == 0, torch.ones_like(sign), sign)


def make_dale_parametrization(mode: str, sign: Tensor) -> nn.Module:
    """The parametrization for ``dale_mode`` ("fixed" or "learnable_sign")."""
    if mode == "fixed":
        return DaleSign(sign)
    if mode == "learnable_sign":
        return LearnableDaleSign(sign)
    raise ValueError(f"dale_mode must be one of {DALE_MODES}, got {mode!r}")


def keep_diagonal(mask: Tensor) -> Tensor:
    """``mask`` (n, n) with its diagonal set to 1: the same connections removed between
    different units, each unit's own entry kept. Ablation masks the spiking network's full
    readout W_out with it, so a removed (post, pre) pair loses both of its paths while every unit
    keeps the readout of its own spikes."""
    return mask.clone().fill_diagonal_(1)


def check_mask(mask, n: int, like: Tensor) -> Tensor:
    """A user connection mask as a 0/1 tensor shaped (n, n) like ``like``; clear error otherwise."""
    mask = torch.as_tensor(mask)
    if tuple(mask.shape) != (n, n):
        raise ValueError(f"connection mask must have shape ({n}, {n}), got {tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        values = mask.detach().to(torch.float64)
        if not bool(((values == 0) | (values == 1)).all()):
            raise ValueError("connection mask must hold only 0/1 (or bool) values")
    return mask.to(device=like.device, dtype=like.dtype)
