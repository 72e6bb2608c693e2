"""The ablation summary: areas under every curve, then Welch's t-tests between networks that
differ in one factor of their spec (neurocircuit.models.names.ModelSpec.factors), Holm–Bonferroni
across all tests, Cohen's d with a bootstrap interval (neurocircuit.statistics)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pandas as pd

from neurocircuit.ablation.curves import curve_areas
from neurocircuit.models.names import model_spec
from neurocircuit.statistics import BOOTSTRAP_RESAMPLES, holm_adjust, welch_test

FACTORS = ("dynamics", "dale", "method", "objective")
"""The traits of a fitted model's name ``{dynamics}_{dale}_{method}[_windows]``, each a factor
(objective: "rollout", the paper's, or "windows")."""
LEVEL_ORDER = {
    "dynamics": ("spiking", "rate"),
    "dale": ("dale", "dalesign", "nodale"),
    "method": ("bptt", "tbptt", "eprop", "force"),
    "objective": ("windows", "rollout"),
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


def _area_rows(runs: Iterable[dict]) -> pd.DataFrame:
    """Section "auc": one row per (dataset, model, seed, strategy) with its areas."""
    rows = []
    for run in runs:
        labels = {key: run[key] for key in ("dataset", "model", "seed")}
        try:
            factors = model_spec(run["model"]).factors()
        except ValueError as error:
            raise ValueError(f"ablation summary: {error}") from None
        for record in curve_areas(run["curves"]).to_dict("records"):
            rows.append({"section": "auc", **labels, **factors, **record})
    if not rows:
        raise ValueError("ablation summary: no ablation runs were given")
    return pd.DataFrame(rows)


def _cells(group: pd.DataFrame, factors: list[str]):
    """(levels, rows) of ``group`` per combination of ``factors`` (one cell when none)."""
    if not factors:
        return [((), group)]
    return group.groupby(factors, sort=False)


def _comparison_rows(areas: pd.DataFrame, n_resamples: int, seed: int) -> pd.DataFrame:
    """Section "welch": per (dataset, strategy, metric, comparison, levels of the other
    factors) where both models exist, Welch's test of their per-seed values."""
    fitted = areas[areas["dynamics"].notna()]
    metrics = [m for m in TESTED_METRICS if m in fitted.columns]
    rows = []
    for (dataset, strategy), group in fitted.groupby(["dataset", "strategy"], sort=False):
        comparisons = factor_comparisons(group)
        # the objective joins the labels only where both objectives are present
        shown = [f for f in FACTORS if f != "objective" or group[f].nunique() > 1]
        for metric, (factor, level_a, level_b) in itertools.product(metrics, comparisons):
            fixed_factors = [f for f in shown if f != factor]
            for levels, cell in _cells(group, fixed_factors):
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
    ``{dynamics}_{dale}_{method}`` gives its factors (its spec's ``factors()``); the ``teacher``
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
