"""The resilience protocol of Gince et al. (2024), NeuroTorch, as a library, with its controls.

What NeuroTorch's own code does (repository NeuroTorch/NeuroTorch_PaperWithCode, folder
``neuronal_time_series_reproduction/``; read for this module):

- Which weights (``resilience.py``, ``ablation_on_layer_``): the first layer's
  ``get_forward_weights_data()``, the recurrent N x N matrix of the Wilson–Cowan or SpyLIF-LPF
  layer (the readout ``Linear`` is never touched). The ablated matrix is written back with
  ``set_forward_weights_data`` and the network rolled out again; nothing is refitted.
- Which numbers are ranked: ``get_forward_weights_data`` returns the raw parameter
  (NeuroTorch 0.0.2, ``neurotorch/modules/layers/base.py``: ``self._forward_weights.data``;
  the package is in benchmarks/.peers/neurotorch-0.0.2). For a Dale layer the effective weight
  is W_raw² · tanh(s) (``forward_weights``; ``WilsonCowanLayer`` multiplies its input by it),
  so ``smallest_rm`` ranks by |W_raw|, not by the effective |W|: the sign factor |tanh(s_j)| of
  each presynaptic neuron is ignored. Zeroing W_raw zeroes the effective weight.
- ``smallest_rm`` (``utils.py``, ``sparsify_matrix_smallest_rm``): k = int(f · (N² − z0))
  (floor; z0 = entries already ~0, ``np.isclose``), the k first entries of
  ``np.argsort(|W_raw|, axis=None)`` (quicksort: ties in any order; already-zero entries sort
  first and take slots, which only matters for a sparse matrix) set to 0.
- ``random_rm``: ``np.random.RandomState(seed).choice([0, 1], N², p=[k / N², 1 − k / N²])``: an
  independent Bernoulli draw per entry (the number removed is binomial around k, zeros included),
  seeds 0..31 (``n_seed=32``), the same seed at every level (the same uniforms, so the masks are
  nested across levels). Each (model, seed) is its own curve (``model_id``).
- Levels: ``np.linspace(0, 1, n_pts)`` with ``n_pts=100`` (``__main__``: n_pts 100, n_seed 32,
  n_test 32, min_perf 0.8, strategies ``smallest_rm`` and ``random_rm``).
- Score (``train_script.py``, ``test_model``): the network is rolled out from frame 0 over the
  whole sequence (32 identical copies in a batch: deterministic, so one rollout), frame 0 put in
  front of the prediction, pVar = 1 − MSE / (Var(target) + 1e-5) pooled over all neurons and
  frames (0.0.2 ``metrics/losses.py``, ``PVarianceLoss``: torch's var, ddof 1), frame 0
  included in both.
- Curve (``resilience_analyse_on_models``): per group (model type, Dale), the mean pVar over all
  curves at each level divided by the mean at the first level; 95 % CI =
  ``scipy.stats.norm.interval(0.95, mean, sd / sqrt(n))``, sd (pandas, ddof 1) also divided by
  the first level's mean, n = curves at that level. x-limits [0, 1] (smallest), [0, 0.6] (random).
- Area (``resilience_analyse_on_models_violinplot``, ``perf_as_auc`` and ``keep_only_pos_perf``):
  per curve, levels rounded to 2 decimals and sorted, pVar divided by its value at the first
  level, the points from the first ratio ≤ 0 on dropped (that point too: no interpolation to the
  crossing), ``sklearn.metrics.auc`` (trapezoidal rule) over the points left, x from the first
  level (0) to the last level kept; not divided by the span (the span is 1 there). A curve with
  fewer than 2 points left has no area and is left out of the violins and tests; with no ratio
  ≤ 0 the whole curve counts. Welch's t-test (``equal_var=False``) of Dale vs no Dale per model
  type on those areas, where every random repeat is one sample.
- Filter (``_filter_models.py``): pVar (n_test 32) below 0.8: the model is dropped.

This module (same protocol, on the fitted activity networks of ``models.activity``):

- ``weakest_global`` is ``smallest_rm``: the ``weakest_global`` order of :mod:`.orders` on the
  ranking matrix of :func:`ranking_matrix` (|W|; for ``dale_mode="learnable_sign"``, W =
  M² · tanh(s), the raw |M| as NeuroTorch ranks). ``random`` is the ``random`` order of
  :mod:`.orders` (seed, seed + 1, ... per repeat). Both remove round(f · n) of the n existing
  connections (half up; NeuroTorch: floor for ``smallest_rm``, a binomial count for
  ``random_rm``), nested across levels, ties by flat index.
- Only the recurrent W is ablated (for the spiking full readout, W_out stays: unlike
  :func:`.curves.rollout_score_function`, which removes both paths).
- Scores on frames 1..T-1 of the rollout from frame 0, as the fit scored it (frame 0, given, is
  left out; NeuroTorch counts it): pooled pVar, pVar / intact pVar, and the median per-neuron
  pVar (each neuron against its own variance). The truncated area is :func:`truncated_area`.
- Control ``mean_drive``: after removing connections, every unit's recurrent input gets back
  the mean of what the removed connections carried over the intact rollout,
  m_i = sum_j (W − W_ablated)[i, j] · mean_t x_j(t) (t = 0..T-2, the frames that drive steps
  1..T-1). For a rate network this is the threshold b_i − g_i m_i, for a spiking one the bias
  current b_in,i + m_i. What is then lost is the dynamics the removed connections carried, not
  each unit's mean level.
- All (level, repeat) pairs of a strategy run as the batch of one rollout
  (:mod:`.resilience_rollout`), ``batch_size`` at a time, each element with its own W; or one
  at a time through the network's own compiled kernels (``rollouts="looped"``, faster on the
  CPU, where nothing is shared between elements anyway); "auto": batched on CUDA, looped on
  the CPU (batched for the spiking full readout).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from neurocircuit.ablation.orders import _mask_from_order, removal_order
from neurocircuit.ablation.resilience_rollout import (
    batched_rollout,
    intact_weight,
    looped_rollout,
    network_copy,
)

RESILIENCE_STRATEGIES = ("weakest_global", "random", "weakest")
"""NeuroTorch's ``smallest_rm`` and ``random_rm``, and the class-balanced control of the first:
``weakest`` removes the weakest connections of each class (excitatory, inhibitory) at the same
pace, each ranked by |w| over its class's mean (:func:`.orders.removal_order`)."""
CONTROLS = ("none", "mean_drive")
PAPER_LEVELS = tuple(np.linspace(0.0, 1.0, 100))
"""NeuroTorch's sparsity levels, ``np.linspace(0, 1, 100)``."""
PAPER_REPEATS = 32
LABELS = ("dataset", "model", "seed")
CURVE_COLUMNS = (*LABELS, "strategy", "control", "level", "repeat", "pvar", "pvar_ratio",
                 "pvar_per_neuron_median")  # fmt: skip
AREA_COLUMNS = (*LABELS, "strategy", "control", "score", "area")
ROLLOUTS = ("auto", "batched", "looped")
AREA_SCORES = {"ratio": "pvar", "per_neuron": "pvar_per_neuron_median"}
"""Area table ``score`` -> the curve column it normalises (by its value at the first level)."""


def rollout_scores(prediction: np.ndarray, target: np.ndarray) -> dict:
    """Pooled pVar and median per-neuron pVar of ``prediction`` against ``target`` (T', N)."""
    from neurocircuit.metrics import score_prediction

    scores = score_prediction(prediction, target)
    return {"pvar": scores["pvar"], "pvar_per_neuron_median": scores["pvar_per_neuron_median"]}


def ranking_matrix(net) -> np.ndarray:
    """(N, N) magnitudes that ``weakest_global`` ranks, 0 where there is no connection: |W| of
    the effective recurrent matrix, or for ``dale_mode="learnable_sign"`` (W = M² · tanh(s))
    the raw |M|, as NeuroTorch ranks its Dale layers (module docstring)."""
    weight = intact_weight(net).cpu().numpy()
    if net.dale and net.dale_mode == "learnable_sign":
        raw = net.parametrizations.weight.original.detach().cpu().numpy()
        return np.where(weight != 0, np.abs(raw), 0.0)
    return np.abs(weight)


def removal_orders(net, strategy: str, repeats: int, seed: int) -> list[np.ndarray]:
    """Flat indices of W's connections in removal order: one order for ``weakest_global`` and
    ``weakest``, ``repeats`` for ``random`` (seeds seed, seed + 1, ...). ``weakest`` ranks the
    same magnitudes as ``weakest_global``, each connection in the class of its effective
    sign, so that both classes lose the same share at every level."""
    key = ranking_matrix(net)
    if strategy == "weakest_global":
        return [removal_order(key, "weakest_global")]
    if strategy == "weakest":
        signed = key * np.sign(intact_weight(net).cpu().numpy())
        return [removal_order(signed, "weakest")]
    if strategy == "random":
        return [removal_order(key, "random", seed + repeat) for repeat in range(repeats)]
    raise ValueError(
        f"resilience: unknown strategy '{strategy}'; choose from {', '.join(RESILIENCE_STRATEGIES)}"
    )


def mean_drive_shift(weight: torch.Tensor, masks: torch.Tensor, mean_activity) -> torch.Tensor:
    """(B, N) mean input that the removed connections carried: (W ⊙ (1 − mask_b)) x̄ for every
    mask (B, N, N), with ``mean_activity`` x̄ (N,) the intact rollout's mean presynaptic
    activity. Added to the ablated network's recurrent input, it restores each unit's mean
    input (a rate unit's threshold b − g m, a spiking unit's bias current b_in + m)."""
    removed = weight.unsqueeze(0) * (1.0 - masks)
    return removed @ torch.as_tensor(mean_activity).to(weight)


def _check_inputs(net, target: np.ndarray, strategy, levels, repeats, controls) -> np.ndarray:
    """``levels`` as a float array; clear errors for bad arguments (``rollouts``: see
    :func:`_rollout_function`)."""
    if target.ndim != 2 or target.shape[1] != net.n_units or target.shape[0] < 3:
        raise ValueError(
            f"resilience: target must have shape (T >= 3, {net.n_units}), got {target.shape}"
        )
    if not np.all(np.isfinite(target)):
        raise ValueError("resilience: the target holds NaN or infinite values")
    if strategy not in RESILIENCE_STRATEGIES:
        raise ValueError(
            f"resilience: unknown strategy '{strategy}'; choose from "
            f"{', '.join(RESILIENCE_STRATEGIES)}"
        )
    unknown = [c for c in controls if c not in CONTROLS]
    if unknown:
        raise ValueError(f"resilience: unknown control '{unknown[0]}'; choose from {CONTROLS}")
    if int(repeats) < 1:
        raise ValueError(f"resilience: repeats must be >= 1, got {repeats}")
    levels = np.asarray(levels, dtype=np.float64)
    if levels.ndim != 1 or levels.size == 0 or np.any((levels < 0) | (levels > 1)):
        raise ValueError("resilience: levels must be a non-empty list of fractions in [0, 1]")
    return levels


def resilience_curve(
    model,
    target,
    strategy: str,
    levels: Sequence[float] = PAPER_LEVELS,
    repeats: int = PAPER_REPEATS,
    seed: int = 0,
    score: Callable[[np.ndarray, np.ndarray], dict] = rollout_scores,
    *,
    controls: Sequence[str] = CONTROLS,
    labels: dict | None = None,
    batch_size: int = 64,
    dtype: torch.dtype = torch.float64,
    rollouts: str = "auto",
    device: str = "cpu",
) -> pd.DataFrame:
    """Resilience curves of one fitted activity network under one ``strategy``.

    ``model``: a ``RateActivityNetwork`` or ``SpikingActivityNetwork`` (not modified);
    ``target``: (T, N) the recording it was fitted to, in [0, 1]. Every (level, repeat) removes
    round(level · n) connections of W in the strategy's order (``weakest_global``, ``weakest``:
    one deterministic order, repeat 0; ``random``: ``repeats`` orders, seeds seed, seed + 1, ...),
    the network is rolled out from target[0] over T frames, once per control in ``controls``
    ("none"; "mean_drive": the removed mean input given back, see the module docstring), and
    ``score(prediction[1:], target[1:])`` returns pvar and pvar_per_neuron_median.
    All pairs of a strategy run as the batch of one rollout, ``batch_size`` pairs at a time
    (``rollouts`` "batched"), or one at a time on the network's own kernels ("looped"); "auto"
    batches on CUDA and loops on the CPU. ``dtype`` and ``device``: of the network's copy.

    Returns a DataFrame with columns ``CURVE_COLUMNS``: ``labels`` (dataset, model, seed; empty
    strings / -1 where not given), strategy, control, level, repeat, pvar, pvar_ratio (pVar /
    the intact network's pVar; NaN when that is <= 0) and pvar_per_neuron_median.
    """
    target = np.asarray(target, dtype=np.float64)
    net = network_copy(model, dtype, device)
    levels = _check_inputs(net, target, strategy, levels, repeats, controls)
    run = _rollout_function(net, rollouts)
    weight = intact_weight(net)
    intact = run(net, target[0], target.shape[0], torch.ones_like(weight).unsqueeze(0))
    intact_pvar = score(intact[1:, 0], target[1:])["pvar"]
    mean_activity = intact[:-1, 0].mean(axis=0)
    orders = removal_orders(net, strategy, int(repeats), int(seed))
    pairs = [(level, repeat) for repeat in range(len(orders)) for level in levels]
    rows = []
    for start in range(0, len(pairs), int(batch_size)):
        chunk = pairs[start : start + int(batch_size)]
        masks = torch.as_tensor(
            np.stack([_mask_from_order(tuple(weight.shape), orders[r], lv) for lv, r in chunk])
        ).to(weight)
        for control in controls:
            shift = mean_drive_shift(weight, masks, mean_activity) if control != "none" else None
            frames = run(net, target[0], target.shape[0], masks, shift)
            for b, (level, repeat) in enumerate(chunk):
                scores = score(frames[1:, b], target[1:])
                rows.append({"strategy": strategy, "control": control, "level": float(level),
                             "repeat": repeat, **scores})  # fmt: skip
    curves = pd.DataFrame(rows)
    curves["pvar_ratio"] = curves["pvar"] / intact_pvar if intact_pvar > 0 else np.nan
    return label_curves(curves, labels)


def _rollout_function(net, rollouts: str):
    """``(net, x0, n_frames, masks, shift) -> (n_frames, B, N)`` for ``rollouts``."""
    if rollouts not in ROLLOUTS:
        raise ValueError(f"resilience: rollouts must be one of {ROLLOUTS}, got {rollouts!r}")
    full_readout = getattr(net, "readout", "diagonal") == "full"
    on_cuda = intact_weight(net).device.type == "cuda"
    if rollouts == "looped" or (rollouts == "auto" and not on_cuda and not full_readout):
        return looped_rollout
    weight = intact_weight(net)

    def batched(net, x0, n_frames, masks, shift=None):
        return batched_rollout(net, x0, n_frames, weight * masks, shift)

    return batched


def label_curves(curves: pd.DataFrame, labels: dict | None) -> pd.DataFrame:
    """``curves`` with the label columns in front and the columns in ``CURVE_COLUMNS`` order,
    sorted by control, repeat and level."""
    labels = labels or {}
    defaults = {"dataset": "", "model": "", "seed": -1}
    for name in LABELS:
        curves[name] = labels.get(name, defaults[name])
    order = curves.sort_values(["control", "repeat", "level"], kind="stable")
    return order[list(CURVE_COLUMNS)].reset_index(drop=True)


# ---------------------------------------------------------------- areas
def truncated_area(levels, values, decimals: int | None = 2, no_area: float = np.nan) -> float:
    """NeuroTorch's area under one normalised resilience curve (module docstring).

    ``levels`` rounded to ``decimals`` (2 as NeuroTorch; None: not rounded) and sorted;
    ``values`` divided by their value at the first level; the points from the first ratio <= 0
    on dropped (that point included, no interpolation), NaN points dropped; the trapezoidal area
    over the points left, not divided by their span. ``no_area`` (default NaN: NeuroTorch
    leaves such a curve out, which drops exactly the networks that collapse at the first
    removal; 0 counts them) when fewer than two points are left; NaN when the first value is
    not > 0 (nothing to normalise by).
    """
    x = np.asarray(levels, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"resilience: levels {x.shape} and values {y.shape} must be 1-D alike")
    if decimals is not None:
        x = np.round(x, decimals)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if x.size == 0 or not y[0] > 0:
        return float("nan")
    ratio = y / y[0]
    lost = np.flatnonzero(ratio <= 0)
    stop = lost[0] if lost.size else ratio.size
    x, ratio = x[:stop], ratio[:stop]
    kept = ~np.isnan(ratio)
    if kept.sum() < 2:
        return float(no_area)
    return float(np.trapezoid(ratio[kept], x[kept]))


def truncated_areas_per_repeat(
    curves: pd.DataFrame, decimals: int | None = 2, no_area: float = np.nan
) -> pd.DataFrame:
    """:func:`truncated_area` of every curve (one per labels, strategy, control, repeat) and
    score: columns ``AREA_COLUMNS`` plus repeat, before repeats are averaged."""
    keys = [*LABELS, "strategy", "control", "repeat"]
    rows = []
    for key, curve in curves.groupby(keys, sort=False):
        for score, column in AREA_SCORES.items():
            area = truncated_area(curve["level"], curve[column], decimals, no_area)
            rows.append({**dict(zip(keys, key, strict=True)), "score": score, "area": area})
    return pd.DataFrame(rows, columns=[*AREA_COLUMNS, "repeat"])


def resilience_areas(
    curves: pd.DataFrame, decimals: int | None = 2, no_area: float = np.nan
) -> pd.DataFrame:
    """Area per (labels, strategy, control, score): columns ``AREA_COLUMNS``. ``score`` "ratio"
    is NeuroTorch's (pooled pVar over its value at level 0), "per_neuron" the same on the median
    per-neuron pVar. Random repeats: the mean of the per-repeat areas that exist (NeuroTorch
    keeps each repeat as a sample and leaves out curves without an area; NaN when none has
    one). ``no_area``: the area of a curve whose second point is already <= 0 (see
    :func:`truncated_area`; NaN as NeuroTorch, 0 to count the collapsed networks)."""
    per_repeat = truncated_areas_per_repeat(curves, decimals, no_area)
    keys = [*LABELS, "strategy", "control", "score"]
    means = per_repeat.groupby(keys, sort=False)["area"].mean().reset_index()
    return means[list(AREA_COLUMNS)]


# ---------------------------------------------------------------- files
def fitted_resilience_curves(
    model_path, prediction_path, settings: dict, labels: dict | None = None
) -> pd.DataFrame:
    """The curves of one fitted network (``model.pt``) on its recording (``target`` of its
    ``prediction.h5``, (N, T) there), every strategy of ``settings`` one after the other:
    ``settings`` holds ``strategies``, ``levels``, ``repeats``, ``seed`` and optionally
    ``controls`` (default both). ``labels``: dataset, model, seed of the table."""
    from neurocircuit.ablation.curves import load_fitted_run

    model, target = load_fitted_run(model_path, prediction_path)
    tables = [
        resilience_curve(
            model,
            target,
            strategy,
            settings["levels"],
            settings["repeats"],
            settings["seed"],
            controls=settings.get("controls", CONTROLS),
            labels=labels,
        )  # fmt: skip
        for strategy in settings["strategies"]
    ]
    return pd.concat(tables, ignore_index=True)
