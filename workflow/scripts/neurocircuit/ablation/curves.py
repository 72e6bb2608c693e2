"""Ablation curves: score a network at every (strategy, fraction, repeat), the areas under its
curves, and the fitted networks' and the teacher's curves written to CSV."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from neurocircuit.ablation.orders import (
    ALL_STRATEGIES,
    REPEATED_STRATEGIES,
    STRATEGIES,
    _existing_connections,
    _mask_from_order,
    inhibitory_share,
    removal_order,
)


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


def load_fitted_run(model_path, prediction_path):
    """(model, target (T, N)) of a fitted run: its ``model.pt`` and the target its
    ``prediction.h5`` scored, checked to have the model's number of units (one clear error
    naming the file otherwise)."""
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
    return model, target


def ablate_fitted_model(
    model_path, prediction_path, output_csv, settings: dict, logger=None
) -> pd.DataFrame:
    """Ablation curves of one fitted network (``model.pt``) on its recording (``target`` of its
    ``prediction.h5``), written to ``output_csv``. Connections are ranked by the network's
    ``effective_connectivity()`` (what the ranked strategies see, and whose signs give each
    connection's class). ``settings``: the ``ablation`` config section (fractions, strategies,
    random_repeats, seed)."""
    model, target = load_fitted_run(model_path, prediction_path)
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
