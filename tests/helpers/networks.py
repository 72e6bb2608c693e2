"""Networks made ready for gradient checks, for tests/unit/test_fast_activity.py and
tests/unit/test_rollout_parity.py."""

from __future__ import annotations

import torch


def jitter(network, seed=1, scale=0.3):
    """Move every per-unit parameter off its initial value, so that no gradient is special."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in network.parameters():
            if parameter.dim() == 1:
                noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
                parameter.add_(scale * noise.to(parameter.dtype))
    return network
