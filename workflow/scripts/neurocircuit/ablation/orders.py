"""Orders of removal: which connections each ablation strategy removes, and in what order
(the strategies are described in :mod:`neurocircuit.ablation`)."""

from __future__ import annotations

import numpy as np

STRATEGIES = ("random", "weakest", "strongest", "hubs")
"""The default orders (the ranked ones sign-aware)."""
GLOBAL_STRATEGIES = ("weakest_global", "strongest_global", "hubs_global")
CLASS_STRATEGIES = ("excitatory_only", "inhibitory_only")
ALL_STRATEGIES = STRATEGIES + GLOBAL_STRATEGIES + CLASS_STRATEGIES
REPEATED_STRATEGIES = ("random",) + CLASS_STRATEGIES
"""Random orders: run ``random_repeats`` times, with seeds seed, seed + 1, ..."""


def _existing_connections(weight: np.ndarray) -> np.ndarray:
    """Flat indices (row-major) of the non-zero entries of ``weight``."""
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"ablation: need a square (N, N) weight matrix, got shape {weight.shape}")
    if not np.all(np.isfinite(weight)):
        raise ValueError("ablation: the weight matrix holds NaN or infinite values")
    return np.flatnonzero(weight.ravel() != 0)


def class_normalised_magnitude(values: np.ndarray) -> np.ndarray:
    """|values| divided by the mean |value| of its class (positive: excitatory, negative:
    inhibitory), so a typical connection of either class scores 1."""
    magnitude = np.abs(values)
    normalised = np.empty_like(magnitude)
    for members in (values > 0, values < 0):
        if members.any():
            normalised[members] = magnitude[members] / magnitude[members].mean()
    return normalised


def _ranked_order(n: int, existing: np.ndarray, key: np.ndarray, ranking: str) -> np.ndarray:
    """Positions into ``existing`` in removal order: ``key`` (a magnitude per connection)
    smallest first (weakest), largest first (strongest), or by hubs; ties by flat index."""
    if ranking == "weakest":
        return np.lexsort((existing, key))
    if ranking == "strongest":
        return np.lexsort((existing, -key))
    rows, cols = np.divmod(existing, n)
    strength = np.bincount(rows, key, minlength=n) + np.bincount(cols, key, minlength=n)
    hub_rank = np.empty(n, dtype=np.int64)
    hub_rank[np.lexsort((np.arange(n), -strength))] = np.arange(n)
    # A connection belongs to the higher-ranked of its two neurons.
    owner_rank = np.minimum(hub_rank[rows], hub_rank[cols])
    return np.lexsort((existing, -key, owner_rank))


def _balance_classes(order: np.ndarray, inhibitory: np.ndarray) -> np.ndarray:
    """Re-sort ``order`` (positions) by within-class quantile (r + 0.5) / n_c, r the rank in
    ``order`` among its class; ties keep ``order``'s sequence."""
    position = np.empty(order.size, dtype=np.int64)
    position[order] = np.arange(order.size)
    quantile = np.empty(order.size)
    for in_class in (~inhibitory, inhibitory):
        members = order[in_class[order]]
        quantile[members] = (np.arange(members.size) + 0.5) / members.size
    return np.lexsort((position, quantile))


def removal_order(weight, strategy: str, seed: int = 0) -> np.ndarray:
    """Flat indices of the connections of ``weight`` (N, N) that ``strategy`` removes, in the
    order it removes them (all connections, or one class's for the ``*_only`` strategies).

    ``seed`` matters only for the random orders (``REPEATED_STRATEGIES``).
    """
    w = np.asarray(weight, dtype=np.float64)
    existing = _existing_connections(w)
    values = w.ravel()[existing]
    if strategy == "random":
        return np.random.default_rng(seed).permutation(existing)
    if strategy in CLASS_STRATEGIES:
        in_class = values < 0 if strategy == "inhibitory_only" else values > 0
        return np.random.default_rng(seed).permutation(existing[in_class])
    if strategy in GLOBAL_STRATEGIES:
        ranking = strategy.removesuffix("_global")
        return existing[_ranked_order(w.shape[0], existing, np.abs(values), ranking)]
    if strategy in STRATEGIES:
        order = _ranked_order(w.shape[0], existing, class_normalised_magnitude(values), strategy)
        return existing[_balance_classes(order, values < 0)]
    raise ValueError(
        f"ablation: unknown strategy '{strategy}'; choose from {', '.join(ALL_STRATEGIES)}"
    )


def n_removed(fraction: float, n_connections: int) -> int:
    """How many of ``n_connections`` a ``fraction`` removes: round half up, so 0.5 · 3 → 2."""
    return int(np.floor(fraction * n_connections + 0.5))


def ablation_mask(weight, strategy: str, fraction: float, seed: int = 0) -> np.ndarray:
    """0/1 float mask (N, N) that removes the first round(fraction · n) connections of the
    ``strategy`` order (n: the order's length); entries that were already zero stay 1 (they are
    not connections)."""
    w = np.asarray(weight, dtype=np.float64)
    return _mask_from_order(w.shape, removal_order(w, strategy, seed), fraction)


def _mask_from_order(shape, order: np.ndarray, fraction: float) -> np.ndarray:
    """0/1 mask of ``shape`` with the first round(fraction · len(order)) of ``order`` at 0."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"ablation: fraction must lie in [0, 1], got {fraction}")
    mask = np.ones(int(np.prod(shape)))
    mask[order[: n_removed(fraction, order.size)]] = 0.0
    return mask.reshape(shape)


def ablate_connections(weight, strategy: str, fraction: float, seed: int = 0):
    """The ablated matrix and its mask, ``(weight * mask, mask)``; see :func:`ablation_mask`."""
    w = np.asarray(weight, dtype=np.float64)
    mask = ablation_mask(w, strategy, fraction, seed)
    return w * mask, mask


def inhibitory_share(weight, mask) -> float:
    """Share of the removed |W| that was inhibitory: Σ|W| over removed negative entries divided
    by Σ|W| over all removed connections (entries with mask 0 and W != 0); NaN when none is
    removed."""
    w = np.asarray(weight, dtype=np.float64)
    removed = (np.asarray(mask) == 0) & (w != 0)
    total = np.abs(w[removed]).sum()
    if total == 0:
        return float("nan")
    return float(np.abs(w[removed & (w < 0)]).sum() / total)
