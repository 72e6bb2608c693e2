"""E-prop (Bellec et al. 2020, Nat. Commun. 11:3625): online gradients without a backward
pass through time.

dE/dW_ji ~ sum_t L_j^t e_ji^t. The eligibility trace e_ji^t = dz_j^t/dW_ji follows each
neuron's own dynamics forward in time (exact, including the synaptic current, the reset
factor, the threshold adaptation and refractoriness); the learning signal L_j^t is the error
reaching neuron j directly through the readout (symmetric: the readout weights; random: a
fixed random matrix). Dependencies through other neurons (recurrent spikes, or the fed-back
output of the activity networks) are treated as inputs and not differentiated. With no
recurrence and symmetric feedback the result equals BPTT's gradient.

Two backends (``backend``, by default the model's own ``backend`` setting; "auto" picks the
compiled one where it runs: CPU, float32 or float64, and for the classifier neurons without
adaptation; the torch loops elsewhere):

- "torch" or "reference" (``eprop_torch``, ``eprop_classifier``): the traces carried forward
  in time, as above; memory independent of the sequence length T (traces (B, post, pre), or
  (B, pre) where they factorise), never the history. The reference.
- "compiled" (CPU: ``eprop_compiled``, ``eprop_kernels``; the activity networks, and the
  classifier's lif and lif_syn neurons): the same gradients to rounding. There every trace
  factorises into a presynaptic filter times a postsynaptic term, and every learning signal
  is known after one forward pass, so the postsynaptic terms are filtered backward in time
  (through each unit's own dynamics and the presynaptic filters, per-unit scalar recursions
  compiled by numba) and each weight gradient is one matrix product over time,
  sum_t G_t^T input_t, as in BPTT (memory O(T N) for the stored forward pass, like BPTT's).
  The classifier's compiled pass runs its forward once instead of twice.

Losses:
- classifier, cross-entropy of the max over time of the leaky readout: the error reaches the
  readout only at the time t*_c of each class's maximum, known after a first forward pass
  (no storage; the compiled backend stores that pass instead); a second forward pass then
  computes traces and gradients. The readout's leak is
  folded into the learning signal in closed form,
  L_j^t = sum_c B_cj g_c kappa^(t*_c - t) [t <= t*_c],  g_c = dE/d(max_t y_c).
- activity networks, per-step MSE against a recording: the error of step t is known at step t,
  one pass. The readout of ``SpikingActivityNetwork`` (low-pass filter, sigmoid) is per unit,
  so it is part of the unit's eligibility and its learning signal is exact.

The spiking dynamics run through the models' own step functions (``neurons.lif_syn_step``,
``lif_step``, ``alif_step``, ``leaky_readout_step``, ``lowpass_step``), with
``return_distance=True`` and ``neurons.pseudo_derivative`` for the surrogate's dz/dv~, or (the
activity networks, compiled) through the compiled rollouts of ``models.activity_kernels``:
e-prop follows exactly the dynamics BPTT differentiates.

Each function computes gradients with respect to the effective tensors the dynamics use and
maps them onto the model's parameters through autograd (Dale's parametrization, masks, softplus
parametrizations), so ``param.grad`` is set exactly as ``loss.backward()`` would set it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from neurocircuit.learning import eprop_classifier, eprop_compiled, eprop_torch
from neurocircuit.models.activity import RateActivityNetwork, SpikingActivityNetwork
from neurocircuit.models.classifier import SpikingClassifier

EPROP_BACKENDS = ("auto", "reference", "torch", "compiled")
"""Backends of e-prop (``backend`` argument; the names of ``models.backend``): "reference" and
"torch" both run the torch loops, e-prop's reference."""
COMPILED_DTYPES = (torch.float32, torch.float64)


def random_feedback(model, seed: int) -> Tensor | None:
    """Fixed random feedback matrix for e-prop's learning signals, drawn from ``seed``.

    ``SpikingClassifier``: (n_out, n_hidden), std readout_scale / sqrt(n_hidden) (the initial
    readout's). ``SpikingActivityNetwork`` with the full readout: (N, N), std
    readout_gain / sqrt(N). None for the networks whose units are their own outputs (rate
    network, diagonal readout): their learning signal is exact.
    """
    generator = torch.Generator().manual_seed(int(seed) + 104729)
    if isinstance(model, SpikingClassifier):
        shape = (model.n_out, model.n_hidden)
        std = model.init_kwargs["readout_scale"] / model.n_hidden**0.5
    elif isinstance(model, SpikingActivityNetwork) and model.readout == "full":
        shape = (model.n_units, model.n_units)
        std = model.init_kwargs["readout_gain"] / model.n_units**0.5
    else:
        return None
    reference = next(model.parameters())
    weight = torch.randn(*shape, generator=generator) * std
    return weight.to(device=reference.device, dtype=reference.dtype)


def _apply_gradients(tensors: list[Tensor], grads: list[Tensor]) -> None:
    """Accumulate ``grads`` of the effective ``tensors`` into the leaf parameters' .grad."""
    pairs = [
        (t, g) for t, g in zip(tensors, grads, strict=True) if t is not None and t.requires_grad
    ]
    if pairs:
        torch.autograd.backward([t for t, _ in pairs], [g for _, g in pairs])


def eprop_classifier_gradients(
    model: SpikingClassifier,
    x: Tensor,
    labels: Tensor,
    feedback: Tensor | None = None,
    *,
    backend: str | None = None,
) -> tuple[Tensor, Tensor]:
    """E-prop gradients of the max-over-time cross-entropy (batch mean) of a ``SpikingClassifier``.

    Args:
        model: the classifier (any neuron type, recurrent or not, Dale or not; the "default"
            discretisation). Under Dale's law the gradients of the effective W_in (>= 0) and V
            are mapped onto the parameters through the parametrizations by autograd.
        x: (T, B, n_in) input; labels: (B,) class indices.
        feedback: (n_out, n_hidden) fixed random feedback matrix, or None for symmetric
            feedback (the readout weights themselves).
        backend: "auto", "reference" (= "torch"), "torch" or "compiled" (``eprop_backend``;
            the compiled pass covers "lif" and "lif_syn" neurons, not "alif", whose traces do
            not factorise: "auto" runs the torch loops there); None: the model's own
            ``backend`` setting (``requested_backend``).
    Returns:
        (loss (scalar), logits = max_t y (B, n_out)), both detached; the gradients are added
        to the parameters' ``.grad``.
    """
    if model.discretisation != "default":
        raise ValueError(
            f"e-prop follows the 'default' discretisation of the classifier, got "
            f"{model.discretisation!r} (train it with bptt or tbptt)"
        )
    if x.is_sparse:
        x = x.to_dense()
    effective = model.effective_weights()
    x = x.to(effective["w_in"].dtype)
    detached = {k: (None if v is None else v.detach()) for k, v in effective.items()}
    backend = requested_backend(model, backend)
    if model.neuron == "alif" and backend == "compiled":
        raise ValueError("the compiled e-prop covers lif and lif_syn neurons, not alif")
    present = [v for v in detached.values() if v is not None]
    compiled = model.neuron != "alif" and eprop_backend(backend, x, *present) == "compiled"
    with torch.no_grad():
        history = eprop_classifier.classifier_history(model, x, detached) if compiled else None
        if compiled:
            logits, t_star = eprop_classifier.history_maxima(history)
        else:
            logits, t_star = eprop_classifier.readout_maxima(model, x, detached)
        loss = F.cross_entropy(logits, labels)
        g = torch.softmax(logits, dim=1) - F.one_hot(labels, model.n_out).to(logits.dtype)
        g = g / logits.shape[0]
        matrix = detached["w_out"] if feedback is None else feedback.to(logits.dtype)
        if compiled:
            grads = eprop_classifier.factorised_classifier_pass(
                model, x, history, g, t_star, matrix, detached["w_rec"] is not None
            )
        else:
            grads = eprop_classifier.classifier_eprop_pass(model, x, detached, g, t_star, matrix)
    names = [name for name in ("w_in", "w_rec", "w_out", "b_out") if effective[name] is not None]
    _apply_gradients([effective[n] for n in names], [grads[n] for n in names])
    return loss.detach(), logits.detach()


def _step_weights(weights: Tensor, steps: int, like: Tensor) -> Tensor:
    weights = weights.to(device=like.device, dtype=like.dtype)
    if weights.shape != (steps,):
        raise ValueError(f"step weights must have shape ({steps},), got {tuple(weights.shape)}")
    return weights


def requested_backend(model, backend: str | None) -> str:
    """``backend``, or where it is None the model's own ``backend`` setting (the one setting
    of ``models.backend``), "auto" for a model without one."""
    return getattr(model, "backend", "auto") if backend is None else backend


def eprop_backend(backend: str, *tensors: Tensor) -> str:
    """The backend that runs the activity networks' e-prop on ``tensors`` (the target and the
    effective parameters): "compiled" or "torch". ``backend`` "auto" gives "compiled" where
    every tensor is a CPU tensor of one dtype, float32 or float64, else "torch"; "reference"
    gives "torch"; "compiled" elsewhere is a ValueError."""
    if backend not in EPROP_BACKENDS:
        raise ValueError(f"backend must be one of {EPROP_BACKENDS}, got {backend!r}")
    first = tensors[0]
    runs = first.dtype in COMPILED_DTYPES and all(
        t.device.type == "cpu" and t.dtype == first.dtype for t in tensors
    )
    if backend == "compiled" and not runs:
        raise ValueError(
            "the compiled e-prop runs on CPU tensors of one dtype, float32 or float64, got "
            f"{sorted({(str(t.device), str(t.dtype)) for t in tensors})}"
        )
    if backend in ("reference", "torch") or not runs:
        return "torch"
    return "compiled"


def _prepare(model, target: Tensor, step_weights: Tensor, backend: str | None):
    """The effective parameters (with graph) and their detached copies, the step weights, the
    loss's normaliser N sum_t w_t and the backend that runs."""
    effective = model.effective_parameters()
    p = {k: v.detach() for k, v in effective.items()}
    steps, n = target.shape
    weights = _step_weights(step_weights, steps, target)
    runs = eprop_backend(requested_backend(model, backend), target, *p.values())
    return effective, p, weights, n * weights.sum(), runs


def eprop_rate_gradients(
    model: RateActivityNetwork, target: Tensor, step_weights: Tensor, *, backend: str | None = None
) -> tuple[Tensor, Tensor]:
    """E-prop gradients of the weighted MSE of a Wilson–Cowan rollout against ``target``.

    The network is rolled out from target[0] (T, N -> one sequence); the loss is
    sum_t w_t sum_n (r_t - target_t)^2 / (N sum_t w_t). The fed-back rates enter the recurrent
    drive as inputs; each unit's own leak is followed exactly by its eligibility traces (for
    W, the time constant, the gain and the threshold).

    Both Wilson–Cowan forms (``RateActivityNetwork.wilson_cowan``); the neurotorch form's
    transition term (1 - c r) (c: its transition rate) depends on the unit's own rate r, so it is
    part of the leak the traces follow (``eprop_torch.rate_neurotorch_gradients``).
    ``backend``: "auto", "reference" (= "torch"), "torch" or "compiled" (``eprop_backend``);
    None: the model's own ``backend`` setting (``requested_backend``).

    Returns (loss, rollout (T, N)), detached; gradients are added to ``.grad``.
    """
    effective, p, weights, norm, runs = _prepare(model, target, step_weights, backend)
    neurotorch = model.wilson_cowan == "neurotorch"
    if runs == "compiled":
        loss, rollout, grads = eprop_compiled.rate_gradients(p, target, weights, norm, neurotorch)
    elif neurotorch:
        loss, rollout, grads = eprop_torch.rate_neurotorch_gradients(p, target, weights, norm)
    else:
        loss, rollout, grads = eprop_torch.rate_default_gradients(p, target, weights, norm)
    names = list(effective)
    _apply_gradients([effective[k] for k in names], [grads[k] for k in names])
    return loss, rollout


def eprop_spiking_activity_gradients(
    model: SpikingActivityNetwork,
    target: Tensor,
    step_weights: Tensor,
    feedback: Tensor | None = None,
    *,
    backend: str | None = None,
) -> tuple[Tensor, Tensor]:
    """E-prop gradients of the weighted MSE of a ``SpikingActivityNetwork`` rollout.

    Same loss and rollout as ``eprop_rate_gradients``. The fed-back outputs y_{t-1} are the
    presynaptic inputs of W; each unit's synaptic current, membrane (with its reset factor),
    spikes over the frame's sub-steps and low-pass filter are followed exactly by its traces.
    The learning signal of unit j is dE/dr_j through the readout: exact for the diagonal
    readout; for the full readout through W_out (symmetric) or a fixed random ``feedback``
    matrix (N, N). The readout parameters get their exact gradients.
    ``backend``: "auto", "reference" (= "torch"), "torch" or "compiled" (``eprop_backend``);
    None: the model's own ``backend`` setting (``requested_backend``).

    Returns (loss, rollout (T, N)), detached; gradients are added to ``.grad``.
    """
    effective, p, weights, norm, runs = _prepare(model, target, step_weights, backend)
    back = None
    if model.readout != "diagonal":
        back = p["readout_weight"] if feedback is None else feedback.to(target.dtype)
    kind = eprop_compiled if runs == "compiled" else eprop_torch
    loss, rollout, grads = kind.spiking_gradients(model, p, target, weights, norm, back)
    names = list(effective)
    _apply_gradients([effective[k] for k in names], [grads[k] for k in names])
    return loss, rollout
