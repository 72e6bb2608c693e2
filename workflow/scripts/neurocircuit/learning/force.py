"""FORCE: recursive least squares on the recurrent weights of a rate network fitted to a recording.

FORCE (Sussillo & Abbott 2009) in the data-constrained form of Rajan, Harvey & Tank (2016) and
CURBD (Perich et al. 2020): every unit is a recorded neuron, the network runs autonomously from
the first frame on its own state, and at each step recursive least squares (RLS) moves every row
of W so that the unit's drive matches the drive that would produce the recorded next frame.
For the Wilson–Cowan update (``RateActivityNetwork``, default form)

    r_t = d r_{t-1} + (1 - d) sigmoid(g (W r_{t-1}) - b),   d = exp(-dt / tau),

the drive that takes the recorded frame x_{t-1} to x_t is found by inverting the update:

    u_t = (x_t - d x_{t-1}) / (1 - d), clipped into [1e-3, 1 - 1e-3],
    a*_t = (logit(u_t) + b) / g

(the neurotorch form inverts its own update, ``models.fitted.needed_rate``). With r = r_{t-1},
the network's own rates, and the error e_t = W r - a*_t, one RLS step is

    k = P r,   c = 1 / (1 + r^T k),   P <- P - c k k^T,   W <- W - c e_t k^T

(:func:`rls_update`; c k is the updated P r). Every unit receives the same presynaptic rates r,
so one P (N, N) serves all rows. P starts at I / alpha and is kept across passes, as CURBD
keeps it across training runs: RLS then minimises sum_t |W r_{t-1} - a*_t|^2 +
alpha |W - W_0|^2 over every step seen. The network then steps on with the updated W. A pass
(one epoch of the training loop) covers the fit block once; updates come every ``every`` steps.

CURBD compares rates with the data and updates W as if rates were linear in W r; here the
sigmoid and the leak are inverted exactly, so the error is in the drive that W controls. Only
W learns: tau, g and b keep their initial values (``network.init_from_data`` sets b from the
recording's mean, as for the gradient fits), W absorbs what b would otherwise fit.

Refused (``models.names.FORCE_REFUSALS``): spiking networks (no invertible update from frame to
drive) and Dale's law: RLS has no principled projection onto sign constraints (sign-constrained
least squares has no recursive closed form; clipping wrong-signed weights, as in some FORCE
variants, leaves P the inverse correlation of another problem). Also refused: structural masks
(no self-connections, sparse W), whose rows see different inputs and would each need their own P.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from neurocircuit.models.activity import RateActivityNetwork
from neurocircuit.models.fitted import needed_rate
from neurocircuit.models.names import FORCE_REFUSALS
from neurocircuit.models.rollout import rollout


def check_force_model(model) -> None:
    """A clear ValueError unless ``model`` is a rate network FORCE can fit: no Dale's law, every
    unit connected to every unit (one shared P)."""
    if not isinstance(model, RateActivityNetwork):
        raise ValueError(f"{FORCE_REFUSALS['spiking']}, got {type(model).__name__}")
    if model.dale:
        raise ValueError(FORCE_REFUSALS["dale"])
    if not bool((model.structural_mask * model.connection_mask == 1).all()):
        raise ValueError(
            "FORCE needs every unit to receive every unit (one P for all rows of W): set "
            "self_connections true and connection_density 1"
        )


def rls_update(
    weight: Tensor, inverse_correlation: Tensor, rate: Tensor, error: Tensor
) -> tuple[Tensor, Tensor]:
    """One recursive-least-squares step: (W', P') from W (N, M), P (M, M), the presynaptic rates
    r (M,) and the error e = W r - target (N,).

    k = P r, c = 1 / (1 + r^T k); P' = P - c k k^T; W' = W - c e k^T (Sussillo & Abbott 2009,
    eqs. 4-5), so W' r - target = e / (1 + r^T P r).
    """
    gain = inverse_correlation @ rate
    scale = 1.0 / (1.0 + rate @ gain)
    new_weight = weight - scale * torch.outer(error, gain)
    return new_weight, inverse_correlation - scale * torch.outer(gain, gain)


def target_drive(model: RateActivityNetwork, target: Tensor) -> Tensor:
    """(T - 1, N) drives a*_t = (logit(u_t) + b) / g, float64, that take the recorded frame
    x_{t-1} to x_t (rows t = 1..T-1 of ``target`` (T, N)); u_t by inverting the update."""
    x = target.detach().cpu().numpy().astype(np.float64)
    needed = torch.as_tensor(needed_rate(model, x[:-1], x[1:]), device=target.device)
    threshold = model.threshold.detach().to(torch.float64)
    return (torch.logit(needed) + threshold) / model.gain().detach().to(torch.float64)


class RecursiveLeastSquares:
    """FORCE's state in the training loop, where an optimizer would be.

    ``inverse_correlation``: P (N, N), float64, I / alpha at the start, then updated by every RLS
    step and kept across passes. ``every``: steps between updates. ``step()`` and
    ``zero_grad()`` do nothing (``force_pass`` makes the updates, there are no gradients);
    ``state_dict()`` / ``load_state_dict()`` carry P through checkpoints, so a run resumes
    exactly. ``param_groups`` has the loop's ``lr`` column as NaN (FORCE has no learning rate).
    """

    def __init__(self, model, alpha: float = 1.0, every: int = 1):
        check_force_model(model)
        if not alpha > 0:
            raise ValueError(f"FORCE's alpha must be positive, got {alpha}")
        if int(every) != every or every < 1:
            raise ValueError(f"FORCE's every must be a positive integer, got {every}")
        self.alpha, self.every = float(alpha), int(every)
        device = model.weight.device
        eye = torch.eye(model.n_units, dtype=torch.float64, device=device)
        self.inverse_correlation = eye / self.alpha
        self.param_groups = [{"params": [model.weight], "lr": float("nan"), "alpha": self.alpha}]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Nothing to clear: FORCE uses no gradients."""

    def step(self) -> None:
        """Nothing to do: ``force_pass`` updated W during the pass."""

    def state_dict(self) -> dict:
        return {
            "inverse_correlation": self.inverse_correlation.detach().cpu().clone(),
            "alpha": self.alpha,
            "every": self.every,
        }

    def load_state_dict(self, state: dict) -> None:
        inverse_correlation = state["inverse_correlation"]
        if inverse_correlation.shape != self.inverse_correlation.shape:
            raise ValueError(
                f"FORCE state has P of shape {tuple(inverse_correlation.shape)}, the network "
                f"needs {tuple(self.inverse_correlation.shape)}"
            )
        self.inverse_correlation = inverse_correlation.to(
            device=self.inverse_correlation.device, dtype=torch.float64
        )
        self.alpha, self.every = float(state["alpha"]), int(state["every"])


@torch.no_grad()
def force_pass(model: RateActivityNetwork, target: Tensor, rls: RecursiveLeastSquares) -> Tensor:
    """One FORCE pass over ``target`` (T, N) in [0, 1] (the fit block): the network runs from
    target[0] on its own rates and, every ``rls.every`` steps, :func:`rls_update` moves W
    towards the drive a*_t (:func:`target_drive`) before the step is taken. Updates the
    model's W and ``rls.inverse_correlation`` in place (computed in float64) and returns the
    rates (T, N) the network ran through (row 0: target[0]; row t - 1 fed update t). Each step
    is one step of the reference loop (``models.rollout``, backend "reference"): the weights
    change between steps, so no fused loop can run the pass."""
    check_force_model(model)
    x = target.detach().to(torch.float64)
    drive_target = target_drive(model, x)
    params = model.step_params()
    params = type(params)(
        *(p.detach().to(torch.float64) if isinstance(p, Tensor) else p for p in params)
    )
    weight = params.recurrent_weight.clone()
    uncoupled = params._replace(recurrent_weight=None)
    inverse_correlation = rls.inverse_correlation
    state = model.initial_state(x[0:1])
    rates = [state.r[0]]
    for t in range(1, x.shape[0]):
        rate = rates[-1]
        if t % rls.every == 0:
            error = weight @ rate - drive_target[t - 1]
            weight, inverse_correlation = rls_update(weight, inverse_correlation, rate, error)
        drive = (weight @ rate)[None, None]  # (1, 1, N): one step, the updated W's drive
        _, state = rollout(model.dynamics, state, uncoupled, drive, backend="reference")
        rates.append(state.r[0])
    rls.inverse_correlation = inverse_correlation
    model.weight.copy_(weight.to(model.weight.dtype))
    return torch.stack(rates)
