"""E-prop of the rate networks against autograd, for tests/unit/test_learning_eprop.py and
tests/unit/test_wilson_cowan_neurotorch.py."""

from __future__ import annotations

import pytest
import torch
from neurocircuit.learning.eprop import eprop_rate_gradients


def grads_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter's gradient, by name (parameters without one left out)."""
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def rate_eprop_and_autograd(
    model: torch.nn.Module,
    target: torch.Tensor,
    weights: torch.Tensor,
    outputs: list,
    backend: str = "auto",
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Autograd's gradients of the weighted MSE of the reference rollout ``outputs`` ((1, N)
    each, from target[0], built on ``model``'s effective parameters) against ``target``, then
    ``eprop_rate_gradients``' on ``model`` (on ``backend``): asserts that the two losses and
    rollouts agree and returns (autograd's gradients, e-prop's), each {parameter name:
    gradient}."""
    prediction = torch.cat(outputs)
    n = target.shape[1]
    loss = (weights[:, None] * (prediction - target) ** 2).sum() / (n * weights.sum())
    loss.backward()
    reference = grads_of(model)
    model.zero_grad()
    eprop_loss, rollout = eprop_rate_gradients(model, target, weights, backend=backend)
    assert float(eprop_loss) == pytest.approx(float(loss.detach()), rel=1e-12)
    torch.testing.assert_close(rollout, prediction.detach(), rtol=0, atol=1e-12)
    return reference, grads_of(model)
