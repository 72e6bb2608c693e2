"""Spike codes for images: latency (time to first spike), constant-current LIF, Poisson rate.

Every encoder maps intensities in [0, 1] of shape (B, C) (or (C,)) to spikes of shape
(T, B, C) (time-major, float32, values 0 or 1), deterministic except the Poisson code, which
takes a ``torch.Generator``.
"""

from __future__ import annotations

import math

import torch

ENCODINGS = ("latency", "lif_current", "poisson")


def _check_intensity(intensity: torch.Tensor) -> torch.Tensor:
    intensity = torch.as_tensor(intensity, dtype=torch.float32)
    if not torch.isfinite(intensity).all():
        raise ValueError("spike encoder: intensities contain NaN or infinite values")
    if intensity.numel() and (intensity.min() < 0 or intensity.max() > 1):
        raise ValueError(
            f"spike encoder: intensities must lie in [0, 1] (got {float(intensity.min()):.3g} .. "
            f"{float(intensity.max()):.3g}); scale images first, e.g. uint8 / 255"
        )
    return intensity


def latency_spike_steps(
    intensity: torch.Tensor,
    n_steps: int,
    *,
    tau_steps: float = 20.0,
    threshold: float = 0.2,
    epsilon: float = 1e-7,
) -> torch.Tensor:
    """Time step of each input's single spike under SpyTorch's latency code; ``n_steps`` = none.

    An input of intensity x is a constant current charging a leaky membrane (time constant
    ``tau_steps`` in steps, threshold ``threshold``); it first crosses threshold after
    ``t = tau * ln(x / (x - threshold))``, floored to a step. Inputs with x < threshold never
    spike (Zenke's SpyTorch tutorial 2, ``current2firing_time`` with ``tau_eff = 20 ms / dt``).
    Returns int64 of the same shape as ``intensity``.
    """
    intensity = _check_intensity(intensity).double()
    silent = intensity < threshold
    x = intensity.clamp(min=threshold + epsilon)
    first_time = tau_steps * torch.log(x / (x - threshold))
    steps = torch.where(silent, torch.full_like(first_time, float(n_steps)), first_time)
    steps = torch.floor(steps).clamp(max=float(n_steps)).to(torch.int64)
    return steps


def latency_encode(
    intensity: torch.Tensor,
    n_steps: int,
    *,
    tau_steps: float = 20.0,
    threshold: float = 0.2,
) -> torch.Tensor:
    """SpyTorch's latency code: one spike per input at :func:`latency_spike_steps`, (T, ..., C)."""
    steps = latency_spike_steps(intensity, n_steps, tau_steps=tau_steps, threshold=threshold)
    return steps_to_spikes(steps, n_steps)


def steps_to_spikes(steps: torch.Tensor, n_steps: int) -> torch.Tensor:
    """One spike per element at time ``steps`` (``>= n_steps`` means none) -> (T, *steps.shape)."""
    spikes = torch.zeros((n_steps + 1, *steps.shape), dtype=torch.float32)
    spikes.scatter_(0, steps.clamp(max=n_steps).unsqueeze(0), 1.0)
    return spikes[:n_steps]


def lif_current_encode(
    intensity: torch.Tensor,
    n_steps: int,
    *,
    dt_ms: float = 1.0,
    tau_mem_ms: float = 10.0,
    threshold: float = 1.0,
    gain: float = 1.0,
) -> torch.Tensor:
    """Constant-current injection into one LIF neuron per input (NeuroTorch's ``LIFEncoder``).

    The intensity x, times ``gain``, is a constant input current into a LIF neuron with identity
    input weights and no recurrence, as in NeuroTorch's LIF layer:
    ``v[t] = (alpha * v[t-1] + gain * x) * (1 - z[t-1])``, ``z[t] = v[t] >= threshold``,
    ``alpha = exp(-dt / tau_mem)``, starting from ``v = 0``. The firing rate grows with x;
    inputs below ``(1 - alpha) * threshold / gain`` never fire. Returns (T, ..., C) float32.
    """
    intensity = _check_intensity(intensity)
    alpha = math.exp(-dt_ms / tau_mem_ms)
    current = gain * intensity
    v = torch.zeros_like(current)
    z = torch.zeros_like(current)
    spikes = torch.empty((n_steps, *current.shape), dtype=torch.float32)
    for t in range(n_steps):
        v = (alpha * v + current) * (1.0 - z)
        z = (v >= threshold).to(torch.float32)
        spikes[t] = z
    return spikes


def poisson_encode(
    intensity: torch.Tensor,
    n_steps: int,
    *,
    max_rate_hz: float = 100.0,
    dt_ms: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Poisson rate code: each step spikes with probability ``x * max_rate_hz * dt`` (Bernoulli).

    Returns (T, ..., C) float32; the same ``generator`` state gives the same spikes.
    """
    intensity = _check_intensity(intensity)
    probability = (intensity * max_rate_hz * dt_ms * 1e-3).clamp(max=1.0)
    uniform = torch.rand((n_steps, *intensity.shape), generator=generator)
    return (uniform < probability).to(torch.float32)


def encode_images(
    intensity: torch.Tensor,
    encoding: str,
    n_steps: int,
    *,
    generator: torch.Generator | None = None,
    **params,
) -> torch.Tensor:
    """Dispatch to the encoder named ``encoding`` (one of :data:`ENCODINGS`) with ``params``."""
    if encoding == "latency":
        return latency_encode(intensity, n_steps, **params)
    if encoding == "lif_current":
        return lif_current_encode(intensity, n_steps, **params)
    if encoding == "poisson":
        return poisson_encode(intensity, n_steps, generator=generator, **params)
    raise ValueError(f"unknown spike encoding '{encoding}' (known: {', '.join(ENCODINGS)})")
