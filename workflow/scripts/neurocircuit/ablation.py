"""Ablation resilience: remove a growing fraction of recurrent connections and score what is left.

A connection is a non-zero entry W[i, j] of a network's unit-to-unit matrix (from presynaptic
neuron j to postsynaptic neuron i): for a fitted network its ``effective_connectivity()``, which
is the recurrent matrix W itself unless the spiking network has the full readout (then W @ W_out,
and removing (i, j) removes both W[i, j] and the readout's W_out[i, j], i != j: see
neurocircuit.models.activity; a pair whose effective entry is 0, possible where W is sparse, is
no connection, so its W_out entry stays).

Classes. A connection is excitatory when its entry in that matrix is positive and inhibitory
when it is negative: in a Dale network the presynaptic neuron's sign, in a non-Dale network each
connection's own. E–I balance makes an inhibitory weight about n_exc / n_inh (4 at 80/20) times
an excitatory one, so any order by raw |W| across both classes mostly removes inhibition first
(at initialisation, 80/20, ~96 % of the first 10 % of "strongest global" removals are
inhibitory). The default orders therefore rank each class within itself.

Orders of removal (``strategy``):

- ``random``: a uniformly random order over all connections (one per repeat seed);
- ``excitatory_only`` / ``inhibitory_only``: a random order over that class only (seeded like
  ``random``, with repeats); a fraction f removes round(f · n_class) of that class and nothing
  of the other;
- ``strongest`` / ``weakest`` (sign-aware, the defaults): each connection's class-normalised
  magnitude is |W| divided by its class's mean |W|; each class is ordered by it (largest first /
  smallest first; ties by flat index), which gives each connection its within-class rank r
  (0-based) among the n_c connections of its class. The removal order sorts all connections by
  their within-class quantile (r + 0.5) / n_c, ties by the class-normalised magnitude (in the
  strategy's direction), then by flat index. Removing the first k connections so removes from
  each class the share k / n of it, to within one connection (Webster's apportionment);
- ``hubs`` (sign-aware): neurons ranked by total class-normalised strength, the sum of the
  class-normalised magnitudes of their incoming and outgoing connections, strongest first
  (ties by neuron index); a connection belongs to the higher-ranked of its two neurons, and
  within a hub its connections go largest class-normalised magnitude first. That order gives the
  within-class ranks, merged by quantile as above (ties by the position in the hub order), so a
  fraction removes the same share of each class while the hubs' connections still go first;
- ``strongest_global`` / ``weakest_global`` / ``hubs_global``: the same orders on raw |W|
  across both classes (the orders before sign-aware ranking; ties by flat index), without the
  class balancing: they mix "strong" with "inhibitory".

Removing a fraction f removes round(f · n) connections from the front of the order (n: all
connections, or the class's for the ``*_only`` orders). Every point records the inhibitory share
of what it removed: the inhibitory |W| removed over all |W| removed (NaN when nothing is). The
network is then scored (pVar of its rollout) and compared with the intact one; the area under the
pVar-ratio curve (ratios floored at 0: a rollout worse than the time-mean has lost everything)
summarises each curve, and :func:`summarise_ablations` compares networks that differ in one
factor only (Welch's t-tests, Holm–Bonferroni across all tests, Cohen's d with a bootstrap
interval; see neurocircuit.statistics).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from neurocircuit.statistics import BOOTSTRAP_RESAMPLES, holm_adjust, welch_test

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


def ablation_curves(
    weight,
    score_with_mask: Callable[[np.ndarray], float],
    fractions: Sequence[float],
    strategies: Sequence[str] = STRATEGIES,
    random_repeats: int = 5,
    seed: int = 0,
    baseline_pvar: float | None = None,
) -> pd.DataFrame:
    """Score the network at every (strategy, fraction, repeat).

    ``score_with_mask(mask)`` returns the network's pVar with the 0/1 connection ``mask`` (N, N)
    applied (an all-ones mask is the intact network). The random orders (``random``,
    ``excitatory_only``, ``inhibitory_only``) run ``random_repeats`` times with seeds ``seed``,
    ``seed + 1``, ...; the ranked strategies run once (repeat 0).
    Returns columns strategy, fraction, repeat, n_removed, inhibitory_share (see
    :func:`inhibitory_share`), pvar, pvar_ratio (pVar / intact pVar), and, when ``baseline_pvar``
    is given (the score of predicting each neuron's time-average), gain_retained =
    (pVar − baseline) / (intact pVar − baseline): the share of what the network adds over that
    baseline that survives. pvar_ratio mostly measures the baseline when it is high (0.85 on the
    zebrafish data: a network with no connections left keeps a ratio near 0.9).
    A network with nothing to lose gets NaN instead of a meaningless ratio: pvar_ratio when its
    intact pVar is <= 0, gain_retained when it does not beat the baseline.
    """
    w = np.asarray(weight, dtype=np.float64)
    _existing_connections(w)
    if random_repeats < 1:
        raise ValueError(f"ablation: random_repeats must be >= 1, got {random_repeats}")
    unknown = [s for s in strategies if s not in ALL_STRATEGIES]
    if unknown:  # before the (costly) intact rollout
        raise ValueError(
            f"ablation: unknown strategy '{unknown[0]}'; choose from {', '.join(ALL_STRATEGIES)}"
        )
    intact = float(score_with_mask(np.ones_like(w)))
    rows = []
    for strategy in strategies:
        repeats = range(random_repeats) if strategy in REPEATED_STRATEGIES else range(1)
        for repeat in repeats:
            order = removal_order(w, strategy, seed + repeat)
            for fraction in fractions:
                mask = _mask_from_order(w.shape, order, float(fraction))
                score = intact if fraction == 0 else float(score_with_mask(mask))
                rows.append(
                    {
                        "strategy": strategy,
                        "fraction": float(fraction),
                        "repeat": repeat,
                        "n_removed": int(((mask == 0) & (w != 0)).sum()),
                        "inhibitory_share": inhibitory_share(w, mask),
                        "pvar": score,
                        "pvar_ratio": score / intact if intact > 0 else float("nan"),
                    }
                )
    curves = pd.DataFrame(rows)
    if baseline_pvar is not None:
        gain = intact - float(baseline_pvar)
        curves["gain_retained"] = (
            (curves["pvar"] - float(baseline_pvar)) / gain if gain > 0 else float("nan")
        )
    return curves


def area_under_curve(fractions, values) -> float:
    """Trapezoidal area under ``values`` over ``fractions`` (sorted), divided by the span of
    fractions so a curve that stays at 1 scores 1 whatever the grid."""
    f = np.asarray(fractions, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(f)
    f, v = f[order], v[order]
    span = f[-1] - f[0]
    if f.size < 2 or span == 0:
        raise ValueError("ablation: the area under a curve needs at least two distinct fractions")
    return float(np.trapezoid(v, f) / span)


RATIO_FLOOR_FOR_AREA = 0.0
"""pVar ratios below this count as this in ``auc``: an ablated network whose rollout is worse
than predicting each neuron's mean (pVar < 0) has lost everything, and how far below 0 its
rollout diverges (pVar can reach -10 or -1000 once the dynamics blow up) says nothing about
resilience; unfloored, one diverging network would dominate every area and t-test."""


def curve_areas(curves: pd.DataFrame) -> pd.DataFrame:
    """Area under the mean pVar-ratio curve (random repeats averaged first) per strategy.

    Columns: strategy; auc (ratios floored at ``RATIO_FLOOR_FOR_AREA`` = 0 before averaging, so
    it lies in [0, 1] for a network that never beats its intact self); auc_unfloored (the raw
    ratios, unbounded below); auc_sd_repeats (spread of the per-repeat floored areas; 0 for
    deterministic strategies); when the curves have ``gain_retained``, auc_gain_retained
    (its area, floored at 0 the same way: the share of the network's gain over the time-mean
    baseline that survives, averaged over the fractions); and when they have
    ``inhibitory_share``, inhibitory_share (its mean over the fractions > 0, repeats averaged
    first: what share of the removed |W| the strategy took from inhibitory connections).
    """
    rows = []
    for strategy, group in curves.groupby("strategy", sort=False):
        extra = {}
        if "gain_retained" in group:
            gain = group["gain_retained"].clip(lower=RATIO_FLOOR_FOR_AREA)
            gain_curve = gain.groupby(group["fraction"]).mean()
            extra["auc_gain_retained"] = area_under_curve(gain_curve.index, gain_curve.values)
        if "inhibitory_share" in group:
            removing = group[group["fraction"] > 0]
            share = removing.groupby("fraction")["inhibitory_share"].mean()
            extra["inhibitory_share"] = float(share.mean()) if share.notna().any() else np.nan
        floored = group.assign(pvar_ratio=group["pvar_ratio"].clip(lower=RATIO_FLOOR_FOR_AREA))
        mean_curve = floored.groupby("fraction")["pvar_ratio"].mean()
        raw_curve = group.groupby("fraction")["pvar_ratio"].mean()
        per_repeat = [
            area_under_curve(g["fraction"], g["pvar_ratio"]) for _, g in floored.groupby("repeat")
        ]
        rows.append(
            {
                "strategy": strategy,
                "auc": area_under_curve(mean_curve.index, mean_curve.values),
                "auc_unfloored": area_under_curve(raw_curve.index, raw_curve.values),
                "auc_sd_repeats": float(np.std(per_repeat, ddof=1)) if len(per_repeat) > 1 else 0.0,
                **extra,
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- summary
FACTORS = ("dynamics", "dale", "method")
"""The traits of a fitted model's name ``{dynamics}_{dale}_{method}``, each a factor."""
LEVEL_ORDER = {
    "dynamics": ("spiking", "rate"),
    "dale": ("dale", "dalesign", "nodale"),
    "method": ("bptt", "tbptt", "eprop", "force"),
}
"""Order of each factor's levels: in a comparison the earlier level is group a (levels not
listed come after, alphabetically)."""
TESTED_METRICS = ("auc", "auc_gain_retained")


def factor_comparisons(areas: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(factor, level a, level b) for every factor and every pair of its levels present in
    ``areas`` (columns dynamics, dale, method), levels in ``LEVEL_ORDER``."""
    comparisons = []
    for factor in FACTORS:
        present = set(areas[factor].dropna())
        order = [level for level in LEVEL_ORDER[factor] if level in present]
        order += sorted(present - set(order))
        comparisons += [(factor, a, b) for a, b in itertools.combinations(order, 2)]
    return comparisons


def model_factors(model: str) -> dict:
    """The factor levels of a fitted model's name, e.g. ``rate_dalesign_eprop`` →
    {dynamics: rate, dale: dalesign, method: eprop}; all None for the ``teacher``."""
    from neurocircuit.models.names import DALE_VARIANTS, TEACHER, parse_model_name

    if model == TEACHER:
        return dict.fromkeys(FACTORS)
    try:
        spec = parse_model_name(model)
    except ValueError as error:
        raise ValueError(f"ablation summary: {error}") from None
    dale = next(key for key, value in DALE_VARIANTS.items() if value == (spec.dale, spec.dale_mode))
    return {"dynamics": spec.dynamics, "dale": dale, "method": spec.method}


def _area_rows(runs: Iterable[dict]) -> pd.DataFrame:
    """Section "auc": one row per (dataset, model, seed, strategy) with its areas."""
    rows = []
    for run in runs:
        labels = {key: run[key] for key in ("dataset", "model", "seed")}
        factors = model_factors(run["model"])
        for record in curve_areas(run["curves"]).to_dict("records"):
            rows.append({"section": "auc", **labels, **factors, **record})
    if not rows:
        raise ValueError("ablation summary: no ablation runs were given")
    return pd.DataFrame(rows)


def _comparison_rows(areas: pd.DataFrame, n_resamples: int, seed: int) -> pd.DataFrame:
    """Section "welch": per (dataset, strategy, metric, comparison, levels of the other
    factors) where both models exist, Welch's test of their per-seed values."""
    fitted = areas[areas["dynamics"].notna()]
    metrics = [m for m in TESTED_METRICS if m in fitted.columns]
    rows = []
    for (dataset, strategy), group in fitted.groupby(["dataset", "strategy"], sort=False):
        comparisons = factor_comparisons(group)
        for metric, (factor, level_a, level_b) in itertools.product(metrics, comparisons):
            fixed_factors = [f for f in FACTORS if f != factor]
            for levels, cell in group.groupby(fixed_factors, sort=False):
                fixed = ", ".join(f"{k}={v}" for k, v in zip(fixed_factors, levels, strict=True))
                a = cell[cell[factor] == level_a]
                b = cell[cell[factor] == level_b]
                if a.empty or b.empty:
                    continue
                test = welch_test(a[metric], b[metric], n_resamples=n_resamples, seed=seed)
                rows.append(
                    {
                        "section": "welch",
                        "dataset": dataset,
                        "strategy": strategy,
                        "metric": metric,
                        "factor": factor,
                        "fixed": fixed,
                        "comparison": f"{level_a} vs {level_b}",
                        "group_a": level_a,
                        "group_b": level_b,
                        "model_a": ", ".join(sorted(set(a["model"]))),
                        "model_b": ", ".join(sorted(set(b["model"]))),
                        **test,
                    }
                )
    tests = pd.DataFrame(rows)
    if not tests.empty:
        tests.insert(tests.columns.get_loc("p") + 1, "p_holm", holm_adjust(tests["p"]))
    return tests


def summarise_ablations(
    runs: Iterable[dict], n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> pd.DataFrame:
    """One table (results/ablation/summary.csv): the areas under every curve, then tests between
    networks that differ in exactly one factor.

    ``runs``: dicts with ``curves`` (a table from :func:`ablation_curves`), ``dataset``,
    ``model`` and ``seed`` (other keys are ignored). A fitted model's name
    ``{dynamics}_{dale}_{method}`` gives its factors (:func:`model_factors`); the ``teacher``
    gets its area rows but joins no comparison.

    Rows with ``section == "auc"``: per (dataset, model, seed, strategy) the factors (dynamics,
    dale, method) and :func:`curve_areas`' columns (auc, auc_unfloored, auc_sd_repeats,
    auc_gain_retained, inhibitory_share).

    Rows with ``section == "welch"``: for each (dataset, strategy, metric in auc /
    auc_gain_retained, pair of levels of one factor: :func:`factor_comparisons`) and each
    combination of the other two factors (``fixed``, e.g. "dynamics=rate, method=bptt") where
    both models exist, the two models' areas with their seeds as replicates (one area per
    seed): group_a, group_b (the compared levels), model_a, model_b, n_a, n_b, mean_a, mean_b,
    sd_a, sd_b, difference (mean_a − mean_b), Welch's t, df and p, p_holm (Holm–Bonferroni
    across every test of the table), cohens_d (> 0 when group a keeps more) and its bootstrap
    95 % interval d_ci_low, d_ci_high (``n_resamples`` resamples, ``seed``). With fewer than 3
    values in either group t, df, p, p_holm and d are NaN and the row is in no family of tests.
    """
    areas = _area_rows(runs)
    summary = pd.concat(
        [areas, _comparison_rows(areas, n_resamples, seed)], ignore_index=True, sort=False
    )
    for column in ("seed", "n_a", "n_b"):
        if column in summary:
            summary[column] = summary[column].astype("Int64")
    return summary


# ---------------------------------------------------------------- fitted networks
def rollout_score_function(model, target: np.ndarray) -> Callable[[np.ndarray], float]:
    """``score_with_mask`` for a fitted activity network: set the connection mask (which removes
    each masked (post, pre) pair on every path between the two units), roll the network out from
    target[0] over T frames, return global pVar on the predicted frames 1..T-1.

    ``target``: (T, N) in [0, 1], the recording the network was fitted to.
    """
    from neurocircuit.metrics import pvar
    from neurocircuit.models.fitted import rollout

    def score(mask: np.ndarray) -> float:
        model.set_connection_mask(mask)
        prediction = rollout(model, target[0], target.shape[0])
        return pvar(prediction[1:], target[1:])

    return score


def ablate_fitted_model(
    model_path, prediction_path, output_csv, settings: dict, logger=None
) -> pd.DataFrame:
    """Ablation curves of one fitted network (``model.pt``) on its recording (``target`` of its
    ``prediction.h5``), written to ``output_csv``. Connections are ranked by the network's
    ``effective_connectivity()`` (what the ranked strategies see, and whose signs give each
    connection's class). ``settings``: the ``ablation`` config section (fractions, strategies,
    random_repeats, seed)."""
    import h5py

    from neurocircuit.models.fitted import load_fitted_model

    model, _ = load_fitted_model(model_path)
    try:
        with h5py.File(prediction_path, "r") as h5:
            target = np.asarray(h5["target"], dtype=np.float64).T
    except (OSError, KeyError) as error:
        raise ValueError(f"{prediction_path}: no readable 'target' dataset ({error})") from None
    if target.shape[1] != model.n_units:
        raise ValueError(
            f"{prediction_path}: {target.shape[1]} neurons but the model in {model_path} has "
            f"{model.n_units} units"
        )
    weight = model.effective_connectivity().numpy()
    if logger:
        logger.info(
            "%s: %d connections, strategies %s, %d fractions",
            model_path,
            _existing_connections(weight).size,
            ", ".join(settings["strategies"]),
            len(settings["fractions"]),
        )
    return write_ablation_curves(
        weight, rollout_score_function(model, target), target, settings, output_csv
    )


def write_ablation_curves(weight, score, target: np.ndarray, settings: dict, output_csv):
    """:func:`ablation_curves` of a network (``weight`` and ``score(mask) -> pVar``) with the
    ablation section's ``settings``, the time-mean baseline taken on ``target`` (T, N) frames
    1..T-1, written to ``output_csv`` atomically. Returns the table."""
    from neurocircuit.metrics import predict_time_mean, pvar
    from neurocircuit.runtime import atomic_path

    curves = ablation_curves(
        weight,
        score,
        fractions=sorted(settings["fractions"]),
        strategies=settings["strategies"],
        random_repeats=settings["random_repeats"],
        seed=settings["seed"],
        baseline_pvar=pvar(predict_time_mean(target)[1:], target[1:]),
    )
    with atomic_path(output_csv) as tmp:
        curves.to_csv(tmp, index=False)
    return curves


def summarise_ablation_files(curve_paths, labels, output_csv) -> pd.DataFrame:
    """results/ablation/summary.csv (:func:`summarise_ablations`) from the per-run tables and
    their (dataset, model, seed), written atomically."""
    from neurocircuit.runtime import atomic_path

    runs = [
        {"curves": pd.read_csv(path), **label}
        for path, label in zip(curve_paths, labels, strict=True)
    ]
    summary = summarise_ablations(runs)
    with atomic_path(output_csv) as tmp:
        summary.to_csv(tmp, index=False)
    return summary
