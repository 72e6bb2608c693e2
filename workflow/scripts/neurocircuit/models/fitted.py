"""Fitted activity networks: build one from a model name, save, load, roll out, initialise.

A fitted network has one unit per recorded neuron and is rolled out on its own output from a
first frame (see neurocircuit.models.activity). These are the operations that fit, ablation and
figures share on such a network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurocircuit.models.names import ModelSpec
from neurocircuit.runtime import atomic_path


def build_network(spec: ModelSpec, n_units: int, network_options: dict, seed: int):
    """A ``RateActivityNetwork`` or ``SpikingActivityNetwork`` of ``n_units`` units.

    ``network_options``: ``shared`` keyword arguments for both (exc_fraction, ei_balance, ...)
    and ``rate`` / ``spiking`` ones for each class (see neurocircuit.models.activity); other
    keys (``init_from_data``, ``init_weights``, ``spiking.init``) are not constructor arguments.
    """
    from neurocircuit.models.activity import RateActivityNetwork, SpikingActivityNetwork

    network_class = SpikingActivityNetwork if spec.dynamics == "spiking" else RateActivityNetwork
    options = {**network_options.get("shared", {}), **network_options.get(spec.dynamics, {})}
    options.pop("init", None)
    return network_class(
        n_units, dale=spec.dale, dale_mode=spec.dale_mode, seed=int(seed), **options
    )


FITTED_MODEL_FORMAT = "neurocircuit-fitted-activity-model-1"


def _network_class_name(model) -> str:
    """The library class of ``model`` (parametrize renames the runtime class)."""
    from neurocircuit.models.activity import RateActivityNetwork, SpikingActivityNetwork

    for network_class in (RateActivityNetwork, SpikingActivityNetwork):
        if isinstance(model, network_class):
            return network_class.__name__
    raise ValueError(f"not an activity network: {type(model).__name__}")


def save_fitted_model(model, path: str | Path, metadata: dict) -> None:
    """Weights and constructor arguments of a fitted network (plus ``metadata``), atomically."""
    import torch

    payload = {
        "format": FITTED_MODEL_FORMAT,
        "model_class": _network_class_name(model),
        "model_kwargs": dict(model.init_kwargs),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": metadata,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_fitted_model(path: str | Path):
    """The network saved by :func:`save_fitted_model` (on the CPU) and its metadata."""
    import torch

    from neurocircuit.models import activity

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: fitted model not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets one clear message
        raise ValueError(f"{path}: not a readable model file ({error})") from None
    if not isinstance(payload, dict) or payload.get("format") != FITTED_MODEL_FORMAT:
        raise ValueError(f"{path}: not a fitted activity model written by neurocircuit")
    network_class = getattr(activity, payload["model_class"])
    kwargs = dict(payload["model_kwargs"])
    model = network_class(kwargs.pop("n_units"), **kwargs)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, payload["metadata"]


def rollout(model, initial_frame: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_frames, N) autonomous rollout from ``initial_frame`` (N,); row 0 is that frame."""
    import torch

    reference = next(model.parameters())
    x0 = torch.as_tensor(np.clip(initial_frame, 0.0, 1.0)[None, :], dtype=reference.dtype)
    with torch.no_grad():
        output = model(x0.to(reference.device), int(n_frames))[:, 0]
    return output.cpu().numpy().astype(np.float64)


def initialise_from_data(model, target: np.ndarray, spiking_init: str = "data") -> None:
    """Start the network at the recording's time-average instead of an arbitrary level.

    Rate network: thresholds b = g (W m) − logit(s), which makes the neurons' mean activity m
    (N,) a fixed point of the update: s = m for x ← d x + (1 − d) sigmoid(g W x − b) (default
    form), s = m / (1 − r m) for x ← (1 − h) x + h (1 − r x) sigmoid(g W x − b) (neurotorch
    form, transition rate r; s is clipped below 1 where m ≥ 1 / (1 + r) has no fixed point).
    Spiking network, ``spiking_init`` "data" (``network.spiking.init``, the default): bias
    currents, readout gains and offsets and the surrogate's scale from the data, so that every
    unit fires under its mean input and reads out as m (``models.spiking_init``); "fixed": the
    constructor's values, only the readout biases move, c = logit(m) − g r̄, with r̄ each unit's
    mean filtered spike rate in one rollout of the initial network, so its output starts near
    m. The weights keep their random initialisation. Why: the rollout otherwise starts far from
    the data's level and the first hundreds of iterations only learn the mean (and spiking
    units far below threshold never spike, so no gradient reaches them).
    """
    import torch

    from neurocircuit.models.activity import RateActivityNetwork
    from neurocircuit.models.spiking_init import check_spiking_init, initialise_spiking_from_data

    mean = np.clip(np.asarray(target, dtype=np.float64).mean(axis=0), 1e-3, 1 - 1e-3)
    reference = next(model.parameters())
    logit_mean = torch.as_tensor(np.log(mean / (1 - mean)), dtype=reference.dtype)
    with torch.no_grad():
        if isinstance(model, RateActivityNetwork):
            drive = model.effective_recurrent_weight() @ torch.as_tensor(
                mean, dtype=reference.dtype
            )
            if model.wilson_cowan == "neurotorch":
                needed = _neurotorch_needed_rate(model, mean, mean)
                logit_mean = torch.as_tensor(np.log(needed / (1 - needed)), dtype=reference.dtype)
            model.threshold.copy_(model.gain() * drive - logit_mean)
            return
    if check_spiking_init(spiking_init) == "data":
        initialise_spiking_from_data(model, target)
        return
    with torch.no_grad():
        output = torch.as_tensor(rollout(model, target[0], target.shape[0]), dtype=reference.dtype)
        gain = model.readout_gain()
        filtered = (torch.logit(output.clamp(1e-4, 1 - 1e-4)) - model.readout_bias) / gain
        model.readout_bias.copy_(logit_mean - gain * filtered.mean(dim=0))


def _neurotorch_needed_rate(model, previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The sigmoid's value s that takes the neurotorch form's rates from ``previous`` to
    ``current`` in one step: current = (1 - h) previous + h (1 - r previous) s (transition
    rate r), clipped into (0, 1)."""
    h = (model.dt / model.tau()).detach().cpu().numpy().astype(np.float64)
    transition = model.transition().detach().cpu().numpy().astype(np.float64)
    needed = (current - (1.0 - h) * previous) / (h * (1.0 - transition * previous))
    return np.clip(needed, 1e-3, 1.0 - 1e-3)


def needed_rate(model, previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The sigmoid's value s that takes a rate network from ``previous`` to ``current`` (both
    (..., N)) in one step, its update inverted: s = (current - d previous) / (1 - d) for
    r_t = d r_{t-1} + (1 - d) s (default form, d = exp(-dt / tau)); the neurotorch form as
    in :func:`_neurotorch_needed_rate`. Clipped into [1e-3, 1 - 1e-3], where the logit is finite
    (one-step regression, FORCE)."""
    if model.wilson_cowan == "neurotorch":
        return _neurotorch_needed_rate(model, previous, current)
    decay = np.exp(-model.dt / model.tau().detach().cpu().numpy().astype(np.float64))
    needed = (current - decay * previous) / (1.0 - decay)
    return np.clip(needed, 1e-3, 1.0 - 1e-3)


def regression_weights(model, target: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """(W (N, N) [post, pre], threshold b (N,)) that make a rate network's one-step update
    reproduce ``target`` (T, N) in [0, 1] best in the least-squares sense, inverted exactly.

    The update r_t = d r_{t-1} + (1 - d) sigmoid(g W r_{t-1} - b) asks, at each step, for the
    drive u_t = logit((x_t - d x_{t-1}) / (1 - d)) (clipped into (0, 1) first; the neurotorch
    form's update with transition rate c asks for
    logit((x_t - (1 - h) x_{t-1}) / (h (1 - c x_{t-1})))); a ridge
    regression of u_t on x_{t-1} (penalty ``ridge`` times the number of steps, relative to a
    unit-variance input) gives g W and -b. This is how data-constrained rate networks are
    classically fitted (one-step targets, as in FORCE-style and CURBD fits); the rollout
    training then refines it.
    """
    x = np.asarray(target, dtype=np.float64)
    needed = needed_rate(model, x[:-1], x[1:])
    drive = np.log(needed / (1.0 - needed))
    inputs = np.c_[x[:-1], np.ones(len(x) - 1)]
    penalty = ridge * len(inputs) * np.diag(np.r_[np.ones(x.shape[1]), 0.0])
    solution = np.linalg.solve(inputs.T @ inputs + penalty, inputs.T @ drive)
    gain = model.gain().detach().cpu().numpy().astype(np.float64)
    return solution[:-1].T / gain[:, None], -solution[-1]


def initialise_by_regression(model, target: np.ndarray, ridge: float = 0.01) -> None:
    """Start a rate network at the one-step regression fit of ``target`` (see
    :func:`regression_weights`), Dale's law kept: each unit's identity (fixed or learnable) is
    set to the sign of its summed outgoing regression weight, and connections whose sign
    disagrees with it start at 0. Fixed identities then stay fixed during training. Spiking
    networks have no closed-form inverse: they are left as they are."""
    import torch

    from neurocircuit.models.activity import RateActivityNetwork

    if not isinstance(model, RateActivityNetwork):
        return
    weight, threshold = regression_weights(model, target, ridge)
    reference = next(model.parameters())
    with torch.no_grad():
        if model.dale:
            dale = model.parametrizations.weight[0]
            outgoing = torch.as_tensor(np.where(weight.sum(axis=0) >= 0, 1.0, -1.0))
            if model.dale_mode == "learnable_sign":
                dale.sign_parameter.copy_(outgoing.to(reference.dtype))
            else:
                dale.sign.copy_(outgoing.to(dale.sign.dtype))
            sign = model.neuron_sign().cpu().numpy()
            weight = np.where(weight * sign[None, :] > 0, weight, 0.0)
        value = torch.as_tensor(weight, dtype=reference.dtype, device=reference.device)
        if model.dale:
            model.weight = value  # through the parametrization's right_inverse
        else:
            model.weight.copy_(value)
        model.threshold.copy_(torch.as_tensor(threshold, dtype=reference.dtype))
