"""Ablation resilience: remove a growing fraction of recurrent connections and score what is left.

A connection is a non-zero entry W[i, j] of a network's unit-to-unit matrix (from presynaptic
neuron j to postsynaptic neuron i): for a fitted network its ``effective_connectivity()``, which
is the recurrent matrix W itself unless the spiking network has the full readout (then W @ W_out,
and removing (i, j) removes both W[i, j] and the readout's W_out[i, j], i != j: see
neurocircuit.models.activity; a pair whose effective entry is 0, possible where W is sparse, is
no connection, so its W_out entry stays). Four orders of removal:

- ``random``: a uniformly random order (one per repeat seed);
- ``weakest``: smallest |W| first; ``strongest``: largest |W| first;
- ``hubs``: neurons ranked by total connection strength, Σ_j |W[k, j]| + Σ_i |W[i, k]| (in plus
  out), strongest first; each hub's remaining connections go, largest |W| first, before the
  next hub's.

Ties are broken by the flat index (row-major) so every order is reproducible. Removing a fraction
f removes round(f · n_connections) connections from the front of the order. The network is then
scored (pVar of its rollout) and compared with the intact one; the area under the pVar-ratio
curve (ratios floored at 0: a rollout worse than the time-mean has lost everything) summarises
each curve, and Welch's t-tests compare groups of networks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

STRATEGIES = ("random", "weakest", "strongest", "hubs")


def _existing_connections(weight: np.ndarray) -> np.ndarray:
    """Flat indices (row-major) of the non-zero entries of ``weight``."""
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"ablation: need a square (N, N) weight matrix, got shape {weight.shape}")
    if not np.all(np.isfinite(weight)):
        raise ValueError("ablation: the weight matrix holds NaN or infinite values")
    return np.flatnonzero(weight.ravel() != 0)


def removal_order(weight, strategy: str, seed: int = 0) -> np.ndarray:
    """Flat indices of the existing connections of ``weight`` (N, N), in the order they are removed.

    ``seed`` matters only for ``random``.
    """
    w = np.asarray(weight, dtype=np.float64)
    existing = _existing_connections(w)
    magnitude = np.abs(w.ravel()[existing])
    if strategy == "random":
        return np.random.default_rng(seed).permutation(existing)
    if strategy == "weakest":
        return existing[np.lexsort((existing, magnitude))]
    if strategy == "strongest":
        return existing[np.lexsort((existing, -magnitude))]
    if strategy == "hubs":
        n = w.shape[0]
        strength = np.abs(w).sum(axis=0) + np.abs(w).sum(axis=1)
        hub_rank = np.empty(n, dtype=np.int64)
        hub_rank[np.lexsort((np.arange(n), -strength))] = np.arange(n)
        rows, cols = np.divmod(existing, n)
        # A connection belongs to the higher-ranked of its two neurons.
        owner_rank = np.minimum(hub_rank[rows], hub_rank[cols])
        return existing[np.lexsort((existing, -magnitude, owner_rank))]
    raise ValueError(
        f"ablation: unknown strategy '{strategy}'; choose from {', '.join(STRATEGIES)}"
    )


def n_removed(fraction: float, n_connections: int) -> int:
    """How many of ``n_connections`` a ``fraction`` removes: round half up, so 0.5 · 3 → 2."""
    return int(np.floor(fraction * n_connections + 0.5))


def ablation_mask(weight, strategy: str, fraction: float, seed: int = 0) -> np.ndarray:
    """0/1 float mask (N, N) that keeps all but the first round(fraction · n) connections of the
    ``strategy`` order; entries that were already zero stay 1 (they are not connections)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"ablation: fraction must lie in [0, 1], got {fraction}")
    w = np.asarray(weight, dtype=np.float64)
    order = removal_order(w, strategy, seed)
    mask = np.ones(w.size)
    mask[order[: n_removed(fraction, order.size)]] = 0.0
    return mask.reshape(w.shape)


def ablate_connections(weight, strategy: str, fraction: float, seed: int = 0):
    """The ablated matrix and its mask, ``(weight * mask, mask)``; see :func:`ablation_mask`."""
    w = np.asarray(weight, dtype=np.float64)
    mask = ablation_mask(w, strategy, fraction, seed)
    return w * mask, mask


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
    applied (an all-ones mask is the intact network). ``random`` runs ``random_repeats`` times with
    seeds ``seed``, ``seed + 1``, ...; the deterministic strategies run once (repeat 0).
    Returns columns strategy, fraction, repeat, n_removed, pvar, pvar_ratio (pVar / intact pVar),
    and, when ``baseline_pvar`` is given (the score of predicting each neuron's time-average),
    gain_retained = (pVar − baseline) / (intact pVar − baseline): the share of what the network
    adds over that baseline that survives. pvar_ratio mostly measures the baseline when it is
    high (0.85 on the zebrafish data: a network with no connections left keeps a ratio near 0.9).
    A network with nothing to lose gets NaN instead of a meaningless ratio: pvar_ratio when its
    intact pVar is <= 0, gain_retained when it does not beat the baseline.
    """
    w = np.asarray(weight, dtype=np.float64)
    n_connections = _existing_connections(w).size
    if random_repeats < 1:
        raise ValueError(f"ablation: random_repeats must be >= 1, got {random_repeats}")
    intact = float(score_with_mask(np.ones_like(w)))
    rows = []
    for strategy in strategies:
        repeats = range(random_repeats) if strategy == "random" else range(1)
        for repeat in repeats:
            for fraction in fractions:
                mask = ablation_mask(w, strategy, float(fraction), seed + repeat)
                score = intact if fraction == 0 else float(score_with_mask(mask))
                rows.append(
                    {
                        "strategy": strategy,
                        "fraction": float(fraction),
                        "repeat": repeat,
                        "n_removed": n_removed(float(fraction), n_connections),
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
    deterministic strategies); and, when the curves have ``gain_retained``, auc_gain_retained
    (its area, floored at 0 the same way: the share of the network's gain over the time-mean
    baseline that survives, averaged over the fractions).
    """
    rows = []
    for strategy, group in curves.groupby("strategy", sort=False):
        gain_area = {}
        if "gain_retained" in group:
            gain = group["gain_retained"].clip(lower=RATIO_FLOOR_FOR_AREA)
            gain_curve = gain.groupby(group["fraction"]).mean()
            gain_area["auc_gain_retained"] = area_under_curve(gain_curve.index, gain_curve.values)
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
                **gain_area,
            }
        )
    return pd.DataFrame(rows)


def welch_test(group_a, group_b) -> dict:
    """Welch's t-test (unequal variances) of two samples, with Cohen's d.

    d = (mean_a − mean_b) / sqrt((sd_a² + sd_b²) / 2) (the average-variance form that suits
    unequal variances). NaN values (networks with nothing to lose) are left out; NaN statistics
    where either group has fewer than 2 values left or both have zero spread.
    """
    from scipy import stats

    a = np.asarray(group_a, dtype=np.float64)
    b = np.asarray(group_b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]  # networks with nothing to lose (NaN areas)
    result = {
        "n_a": int(a.size),
        "n_b": int(b.size),
        "mean_a": float(a.mean()) if a.size else float("nan"),
        "mean_b": float(b.mean()) if b.size else float("nan"),
        "sd_a": float(a.std(ddof=1)) if a.size > 1 else float("nan"),
        "sd_b": float(b.std(ddof=1)) if b.size > 1 else float("nan"),
        "t": float("nan"),
        "p": float("nan"),
        "cohens_d": float("nan"),
    }
    if a.size < 2 or b.size < 2:
        return result
    pooled = np.sqrt((result["sd_a"] ** 2 + result["sd_b"] ** 2) / 2.0)
    if pooled == 0:
        return result
    test = stats.ttest_ind(a, b, equal_var=False)
    result.update(
        t=float(test.statistic),
        p=float(test.pvalue),
        cohens_d=float((result["mean_a"] - result["mean_b"]) / pooled),
    )
    return result


RUN_LABELS = ("dataset", "model", "seed", "dynamics", "dale", "method")
COMPARISONS = (
    ("dale", "Dale", "no Dale", True, False),
    ("dynamics", "spiking", "rate", "spiking", "rate"),
)


def summarise_ablations(runs: Iterable[dict]) -> pd.DataFrame:
    """One table: the area under every curve, then Welch's t-tests between groups of networks.

    ``runs``: dicts with ``curves`` (a table from :func:`ablation_curves`) and the run's labels
    ``dataset``, ``model``, ``seed``, ``dynamics`` ("spiking"/"rate"), ``dale`` (bool),
    ``method``. Rows with ``section == "auc"`` give each (dataset, model, seed, strategy) area;
    rows with ``section == "welch"`` compare the areas of Dale vs non-Dale and spiking vs rate
    networks per (dataset, strategy), pooling the other factors and seeds.
    """
    auc_rows = []
    for run in runs:
        labels = {
            key: run[key] for key in ("dataset", "model", "seed", "dynamics", "dale", "method")
        }
        for record in curve_areas(run["curves"]).to_dict("records"):
            auc_rows.append({"section": "auc", **labels, **record})
    if not auc_rows:
        raise ValueError("ablation summary: no ablation runs were given")
    areas = pd.DataFrame(auc_rows)
    test_rows = []
    for (dataset, strategy), group in areas.groupby(["dataset", "strategy"], sort=False):
        for column, name_a, name_b, value_a, value_b in COMPARISONS:
            test = welch_test(
                group.loc[group[column] == value_a, "auc"],
                group.loc[group[column] == value_b, "auc"],
            )
            test_rows.append(
                {
                    "section": "welch",
                    "dataset": dataset,
                    "strategy": strategy,
                    "comparison": f"{name_a} vs {name_b}",
                    "group_a": name_a,
                    "group_b": name_b,
                    **test,
                }
            )
    summary = pd.concat([areas, pd.DataFrame(test_rows)], ignore_index=True)
    for column in ("seed", "n_a", "n_b"):
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
    ``effective_connectivity()`` (what "weakest", "strongest" and "hubs" see). ``settings``: the
    ``ablation`` config section (fractions, strategies, random_repeats, seed)."""
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
    """results/ablation/summary.csv from the per-run tables and their (dataset, model, seed);
    the ``teacher`` of a synthetic session gets its areas but joins no Welch group."""
    from neurocircuit.models.names import TEACHER, parse_model_name
    from neurocircuit.runtime import atomic_path

    runs = []
    for path, label in zip(curve_paths, labels, strict=True):
        if label["model"] == TEACHER:  # a reference curve: in no group of the Welch tests
            traits = {"dynamics": TEACHER, "dale": None, "method": None}
        else:
            spec = parse_model_name(label["model"])
            traits = {"dynamics": spec.dynamics, "dale": spec.dale, "method": spec.method}
        runs.append({"curves": pd.read_csv(path), **label, **traits})
    summary = summarise_ablations(runs)
    with atomic_path(output_csv) as tmp:
        summary.to_csv(tmp, index=False)
    return summary
