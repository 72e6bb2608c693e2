"""Surrogate gradients for the spike non-linearity z = H(x), x = v~ - threshold.

The forward pass is the exact Heaviside step (a spike is 0 or 1); the backward pass replaces
its derivative (a Dirac delta) by a smooth pseudo-derivative so that gradients flow. Each
surrogate is a ``torch.autograd.Function``; ``spike`` picks one by name and
``surrogate_derivative`` gives the same pseudo-derivative as a plain function (e-prop needs it
in the forward pass).
"""

from __future__ import annotations

import torch

SURROGATES = ("superspike", "triangle")
DEFAULT_SURROGATE_SCALE = {"superspike": 100.0, "triangle": 0.3}
"""Default ``scale`` per surrogate: SuperSpike's steepness, the triangle's height (dampening)."""
TRIANGLE_MAX_HEIGHT = 10.0


class SuperSpike(torch.autograd.Function):
    """Heaviside forward, SuperSpike's fast-sigmoid derivative backward.

    dz/dx = 1 / (scale * |x| + 1) ** 2

    Source: F. Zenke & S. Ganguli (2018), "SuperSpike: Supervised learning in multilayer spiking
    neural networks", Neural Computation 30:1514-1541, Eq. 5 (the derivative of the fast sigmoid
    x / (1 + |x|)); used with scale = 100 in F. Zenke's SpyTorch tutorials. ``scale`` is the
    steepness (1 / membrane units); the peak value at x = 0 is 1.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.scale = scale
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_output / (ctx.scale * x.abs() + 1.0) ** 2, None


class TriangleSpike(torch.autograd.Function):
    """Heaviside forward, Bellec's triangular (piecewise-linear) pseudo-derivative backward.

    dz/dx = (gamma / width) * max(0, 1 - |x| / width)

    Source: G. Bellec, D. Salaj, A. Subramoney, R. Legenstein & W. Maass (2018), "Long
    short-term memory and learning-to-learn in networks of spiking neurons", NeurIPS, and
    Bellec et al. (2020) Nat. Commun. 11:3625 (Methods, "pseudo-derivative"), with the dampening
    factor gamma = 0.3 and width = the firing threshold v_th.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, gamma: float, width: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.gamma = gamma
        ctx.width = width
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        slope = (ctx.gamma / ctx.width) * torch.clamp(1.0 - x.abs() / ctx.width, min=0.0)
        return grad_output * slope, None, None


def superspike_denominator_(membrane: torch.Tensor, threshold: float, scale: float):
    """(scale |v~ - threshold| + 1) ** 2 in place in ``membrane`` (v~) and returned: the
    reciprocal of ``SuperSpike``'s dz/dx at x = v~ - threshold, which a hand-written backward
    (``fast_lif``) divides by, in its own buffer."""
    membrane.sub_(threshold).abs_().mul_(scale).add_(1.0)
    return membrane.mul_(membrane)


def check_surrogate(name: str) -> str:
    """Return ``name`` if it is a known surrogate, else raise a ValueError naming the choices."""
    if name not in SURROGATES:
        raise ValueError(f"surrogate must be one of {SURROGATES}, got {name!r}")
    return name


def resolve_surrogate_scale(name: str, scale: float | None) -> float:
    """The scale to use for surrogate ``name``: ``scale`` itself, or its default when None."""
    check_surrogate(name)
    value = DEFAULT_SURROGATE_SCALE[name] if scale is None else float(scale)
    if not value > 0:
        raise ValueError(f"surrogate_scale must be positive, got {scale}")
    if name == "triangle" and value > TRIANGLE_MAX_HEIGHT:
        raise ValueError(
            f"surrogate_scale {value} is the triangle's height gamma (Bellec: 0.3); values above "
            f"{TRIANGLE_MAX_HEIGHT} look like a SuperSpike steepness: pass None for the default"
        )
    return value


def spike(x: torch.Tensor, surrogate: str, scale: float, width: float = 1.0) -> torch.Tensor:
    """Spikes H(x) with the named surrogate gradient.

    Args:
        x: distance to threshold, v~ - threshold (any shape).
        surrogate: "superspike" (``scale`` = steepness) or "triangle" (``scale`` = height gamma).
        scale: see ``surrogate``.
        width: half-width of the triangle (Bellec: the threshold v_th); unused by SuperSpike.
    """
    if surrogate == "superspike":
        return SuperSpike.apply(x, scale)
    if surrogate == "triangle":
        return TriangleSpike.apply(x, scale, width)
    raise ValueError(f"surrogate must be one of {SURROGATES}, got {surrogate!r}")


def surrogate_derivative(
    x: torch.Tensor, surrogate: str, scale: float, width: float = 1.0
) -> torch.Tensor:
    """The pseudo-derivative dz/dx of ``spike`` as a plain tensor (used by e-prop)."""
    if surrogate == "superspike":
        return 1.0 / (scale * x.abs() + 1.0) ** 2
    if surrogate == "triangle":
        return (scale / width) * torch.clamp(1.0 - x.abs() / width, min=0.0)
    raise ValueError(f"surrogate must be one of {SURROGATES}, got {surrogate!r}")
