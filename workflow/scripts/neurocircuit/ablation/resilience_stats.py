"""Statistics of the resilience experiment that can decide: primary contrasts named before
anything runs, Holm–Bonferroni over those only, everything else an exploratory estimate.

Inputs (one row per network and curve):

- ``curves``: dataset, model, seed, strategy, control ("none" or "mean_drive"), level (fraction
  removed, 0..1), repeat, pvar, pvar_ratio, pvar_per_neuron_median;
- ``areas``: dataset, model, seed, strategy, control, score ("ratio" or "per_neuron"), area.

A model's factors come from its name (neurocircuit.models.names: ``model_spec(name).factors()``:
dynamics, dale, method, objective); the teacher joins no comparison.

**Primary contrasts** (:func:`primary_contrasts`): listed in the config, e.g.
``{name: dale_vs_nodale_rate, factor: dale, a: dale, b: nodale, fixed: {dynamics: rate}}``.
Group a holds the networks whose ``factor`` is ``a`` and whose other factors match ``fixed``
(likewise b); a group that spans several models is refused (models are never pooled: fix the
other factors). Each contrast is tested under each strategy and each measure (a measure is a
control and a score: the paper's is control "none", score "ratio"): Welch's t-test of the
seeds' areas (neurocircuit.statistics.welch_test), the difference of means a − b with its
Welch–Satterthwaite t interval,

    difference ± t_{df, (1 + confidence) / 2} · sqrt(s_a²/n_a + s_b²/n_b),

and p adjusted by Holm–Bonferroni over the primary family of the data set only (contrasts ×
strategies × measures). **Exploratory** rows: every other pair of models that differ in one
factor, under every strategy and (control, score) present: the same estimates and intervals,
but no t, no p and no Holm p (they claim nothing beyond the interval).

**Power** (:func:`minimum_detectable_effect`): the smallest standardized difference (Cohen's d)
that a two-sided two-sample t-test (df n_a + n_b − 2, noncentral t with noncentrality
d · sqrt(n_a n_b / (n_a + n_b))) detects with the given power at Holm's first step, level
alpha / n_tests: below it, the family will usually miss an effect even if it is there.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from neurocircuit.ablation.summary import FACTORS, LEVEL_ORDER
from neurocircuit.models.names import ROLLOUT, TEACHER, model_spec
from neurocircuit.statistics import (
    BOOTSTRAP_RESAMPLES,
    CONFIDENCE,
    MIN_REPLICATES,
    holm_adjust,
    welch_se_df,
    welch_test,
)

CONTROLS = ("none", "mean_drive")
SCORES = ("ratio", "per_neuron")
INTACT_PVAR_THRESHOLD = 0.8
"""NeuroTorch's ``_filter_models.py``: networks whose intact pVar is under 0.8 are dropped."""
CURVE_COLUMNS = ("dataset", "model", "seed", "strategy", "control", "level", "pvar")
AREA_COLUMNS = ("dataset", "model", "seed", "strategy", "control", "score", "area")
PAPER_CONTRASTS = (
    {"name": "dale_vs_nodale_rate", "factor": "dale", "a": "dale", "b": "nodale",
     "fixed": {"dynamics": "rate"}},
    {"name": "dale_vs_nodale_spiking", "factor": "dale", "a": "dale", "b": "nodale",
     "fixed": {"dynamics": "spiking"}},
    {"name": "spiking_vs_rate_dale", "factor": "dynamics", "a": "spiking", "b": "rate",
     "fixed": {"dale": "dale"}},
)  # fmt: skip
"""The issue's primary contrasts in config form: the paper's two claims (Dale helps, within each
dynamics; spiking helps, within Dale)."""


class Contrast(NamedTuple):
    """A primary contrast: ``factor`` at level ``a`` vs ``b``, the other factors in ``fixed``
    ((factor, level) pairs)."""

    name: str
    factor: str
    a: str
    b: str
    fixed: tuple[tuple[str, str], ...] = ()

    @property
    def fixed_label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.fixed)

    def selects(self, factors: Mapping[str, str], level: str) -> bool:
        """Whether a model with ``factors`` belongs to this contrast's group at ``level``."""
        return factors[self.factor] == level and all(factors[k] == v for k, v in self.fixed)


class Measure(NamedTuple):
    """What a curve's area measures: the control of the ablated network and the score."""

    name: str
    control: str
    score: str


PAPER_MEASURE = Measure("paper", "none", "ratio")
"""The paper's: no control, pVar / intact pVar."""
CONTROLLED_MEASURE = Measure("controlled", "mean_drive", "per_neuron")
"""Each unit's mean drive restored, scored by per-neuron pVar."""


def _levels(factor: str) -> tuple[str, ...]:
    return LEVEL_ORDER[factor]


def _parse_contrast(item, where: str, factors: Sequence[str]) -> Contrast:
    """One checked :class:`Contrast` from a config mapping (``where`` names it in errors)."""
    if not isinstance(item, Mapping):
        raise ValueError(f"{where}: expected a mapping with name, factor, a, b, fixed")
    unknown = sorted(set(item) - {"name", "factor", "a", "b", "fixed"})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    missing = [key for key in ("name", "factor", "a", "b") if key not in item]
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
    name, factor = str(item["name"]), item["factor"]
    if factor not in factors:
        raise ValueError(f"{where}: unknown factor '{factor}' (one of {', '.join(factors)})")
    for side in ("a", "b"):
        if item[side] not in _levels(factor):
            raise ValueError(
                f"{where}: unknown level {side}='{item[side]}' of factor {factor} "
                f"(one of {', '.join(_levels(factor))})"
            )
    if item["a"] == item["b"]:
        raise ValueError(f"{where}: a and b are both '{item['a']}'")
    fixed = item.get("fixed") or {}
    if not isinstance(fixed, Mapping):
        raise ValueError(f"{where}: fixed must be a mapping factor: level")
    for key, level in fixed.items():
        if key not in FACTORS or key == factor:
            others = ", ".join(f for f in FACTORS if f != factor)
            raise ValueError(f"{where}: fixed factor '{key}' is not one of {others}")
        if level not in _levels(key):
            raise ValueError(
                f"{where}: unknown level '{level}' of fixed factor {key} "
                f"(one of {', '.join(_levels(key))})"
            )
    ordered = tuple((key, fixed[key]) for key in FACTORS if key in fixed)
    return Contrast(name, factor, item["a"], item["b"], ordered)


def primary_contrasts(
    config_list,
    source: str = "config resilience.primary_contrasts",
    factors: Sequence[str] = ("dale", "dynamics"),
) -> list[Contrast]:
    """The primary contrasts from the config's list of mappings ``{name, factor, a, b, fixed}``
    (``fixed``: other factors' levels, optional), checked before anything runs: a contrast's
    factor must be in ``factors``, its levels and fixed levels known
    (neurocircuit.ablation.summary.LEVEL_ORDER), names unique. A one-line ValueError naming
    ``source`` and the entry otherwise."""
    if not isinstance(config_list, Sequence) or isinstance(config_list, str) or not config_list:
        raise ValueError(f"{source}: expected a non-empty list of contrasts")
    contrasts = [
        _parse_contrast(item, f"{source}[{i}]", factors) for i, item in enumerate(config_list)
    ]
    names = [c.name for c in contrasts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{source}: contrast name(s) used twice: {', '.join(duplicates)}")
    return contrasts


def measures_from_config(items: Iterable, source: str = "config resilience.measures"):
    """Checked :class:`Measure` s from mappings ``{name, control, score}`` (or Measures)."""
    measures = []
    for i, item in enumerate(items):
        item = item._asdict() if isinstance(item, Measure) else item
        where = f"{source}[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"name", "control", "score"}:
            raise ValueError(f"{where}: expected a mapping with keys name, control, score")
        if item["control"] not in CONTROLS:
            raise ValueError(f"{where}: unknown control '{item['control']}' ({CONTROLS})")
        if item["score"] not in SCORES:
            raise ValueError(f"{where}: unknown score '{item['score']}' ({SCORES})")
        measures.append(Measure(str(item["name"]), item["control"], item["score"]))
    if not measures:
        raise ValueError(f"{source}: no measures given")
    return measures


# ---------------------------------------------------------------- the filter
def _check_columns(table: pd.DataFrame, required: Sequence[str], what: str) -> None:
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"{what} table: missing column(s) {', '.join(missing)}")


def intact_pvar(curves: pd.DataFrame) -> pd.DataFrame:
    """Per network (dataset, model, seed) its intact pVar: the mean pvar at level 0 without a
    control (all strategies' first points are the same network)."""
    _check_columns(curves, CURVE_COLUMNS, "curves")
    keys = ["dataset", "model", "seed"]
    intact = curves[np.isclose(curves["level"].astype(float), 0.0) & (curves["control"] == "none")]
    values = intact.groupby(keys, as_index=False, dropna=False)["pvar"].mean()
    present = set(map(tuple, values[keys].to_numpy()))
    for network in map(tuple, curves[keys].drop_duplicates().to_numpy()):
        if network not in present:
            dataset, model, seed = network
            raise ValueError(
                f"curves table: network {dataset}/{model}/seed{seed} has no point at level 0 "
                "with control 'none' (its intact pVar)"
            )
    return values.rename(columns={"pvar": "intact_pvar"})


class FilterResult(NamedTuple):
    curves: pd.DataFrame
    areas: pd.DataFrame | None
    dropped: pd.DataFrame
    """Per (dataset, model): dynamics, dale, n_networks, n_dropped, n_kept, dropped_seeds."""


def filter_by_intact_pvar(
    curves: pd.DataFrame,
    areas: pd.DataFrame | None = None,
    threshold: float = INTACT_PVAR_THRESHOLD,
) -> FilterResult:
    """Drop the fitted networks whose intact pVar (:func:`intact_pvar`) is under ``threshold``
    (or NaN) from ``curves`` and ``areas``; the teacher is never dropped. ``dropped`` says how
    many were dropped per group (dataset, model)."""
    intact = intact_pvar(curves)
    fitted = intact[intact["model"] != TEACHER].copy()
    fitted["drop"] = ~(fitted["intact_pvar"] >= threshold)
    rows = []
    for (dataset, model), group in fitted.groupby(["dataset", "model"], sort=True):
        factors = model_spec(model).factors()
        seeds = sorted(group.loc[group["drop"], "seed"].astype(int))
        rows.append(
            {"dataset": dataset, "model": model, "dynamics": factors["dynamics"],
             "dale": factors["dale"], "n_networks": len(group), "n_dropped": len(seeds),
             "n_kept": len(group) - len(seeds), "dropped_seeds": " ".join(map(str, seeds))}
        )  # fmt: skip
    dropped_keys = fitted.loc[fitted["drop"], ["dataset", "model", "seed"]]

    def keep(table: pd.DataFrame) -> pd.DataFrame:
        marked = table.merge(dropped_keys.assign(_drop=True), how="left")
        return table[marked["_drop"].isna().to_numpy()].reset_index(drop=True)

    if areas is not None:
        _check_columns(areas, AREA_COLUMNS, "areas")
        known = set(map(tuple, intact[["dataset", "model", "seed"]].to_numpy()))
        for key in map(tuple, areas[["dataset", "model", "seed"]].drop_duplicates().to_numpy()):
            if key not in known:
                raise ValueError(f"areas table: network {key} has no curve (intact pVar unknown)")
    return FilterResult(keep(curves), None if areas is None else keep(areas), pd.DataFrame(rows))


# ---------------------------------------------------------------- tests
def welch_interval(group_a, group_b, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Welch–Satterthwaite t interval of mean_a − mean_b (NaN values left out; each group
    needs >= 2 values); NaN when both groups are constant."""
    from scipy import stats

    a = np.asarray(group_a, dtype=float)
    b = np.asarray(group_b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        raise ValueError(f"a Welch interval needs >= 2 values per group, got {a.size}, {b.size}")
    se, df = welch_se_df(a, b)
    if not np.isfinite(se):
        return float("nan"), float("nan")
    half = stats.t.ppf((1.0 + confidence) / 2.0, df) * se
    difference = a.mean() - b.mean()
    return float(difference - half), float(difference + half)


def _compare(a, b, n_resamples: int, seed: int, confidence: float) -> dict:
    """welch_test's columns plus the interval of the difference (ci_low, ci_high)."""
    result = welch_test(a, b, n_resamples=n_resamples, seed=seed)
    low = high = float("nan")
    if min(result["n_a"], result["n_b"]) >= MIN_REPLICATES:
        low, high = welch_interval(a, b, confidence)
    index = list(result).index("difference") + 1
    items = list(result.items())
    return dict(items[:index] + [("ci_low", low), ("ci_high", high)] + items[index:])


def _with_factors(areas: pd.DataFrame) -> pd.DataFrame:
    """The fitted networks' areas with their factor columns (the teacher left out)."""
    _check_columns(areas, AREA_COLUMNS, "areas")
    fitted = areas[areas["model"] != TEACHER].reset_index(drop=True)
    factors = {}
    for model in fitted["model"].unique():
        try:
            factors[model] = model_spec(model).factors()
        except ValueError as error:
            raise ValueError(f"areas table: {error}") from None
    return fitted.join(pd.DataFrame([factors[m] for m in fitted["model"]], index=fitted.index))


def _one_model(rows: pd.DataFrame, where: str) -> str:
    models = sorted(set(rows["model"]))
    if len(models) > 1:
        raise ValueError(
            f"{where} pools models {', '.join(models)}: fix the other factors in 'fixed'"
        )
    return models[0] if models else ""


def _primary_rows(data, contrasts, strategies, measures, n_resamples, seed, confidence):
    rows = []
    for dataset, strategy, contrast, measure in itertools.product(
        data["dataset"].unique(), strategies, contrasts, measures
    ):
        cell = data[
            (data["dataset"] == dataset) & (data["strategy"] == strategy)
            & (data["control"] == measure.control) & (data["score"] == measure.score)
        ]  # fmt: skip
        sides = []
        for level in (contrast.a, contrast.b):
            chosen = [contrast.selects(f, level) for f in cell[list(FACTORS)].to_dict("records")]
            sides.append(cell[np.asarray(chosen, dtype=bool)] if len(cell) else cell)
        where = f"primary contrast {contrast.name} on {dataset}"
        rows.append(
            {"family": "primary", "dataset": dataset, "contrast": contrast.name,
             "factor": contrast.factor, "group_a": contrast.a, "group_b": contrast.b,
             "fixed": contrast.fixed_label, "strategy": strategy, "measure": measure.name,
             "control": measure.control, "score": measure.score,
             "model_a": _one_model(sides[0], where), "model_b": _one_model(sides[1], where),
             **_compare(sides[0]["area"], sides[1]["area"], n_resamples, seed, confidence)}
        )  # fmt: skip
    return rows


def _single_factor_pairs(models: Iterable[str]):
    """(factor, model a, model b, fixed label) for each pair of models that differ in exactly
    one factor, level a first in LEVEL_ORDER."""
    specs = {m: model_spec(m).factors() for m in models}
    for m1, m2 in itertools.combinations(sorted(specs), 2):
        differ = [f for f in FACTORS if specs[m1][f] != specs[m2][f]]
        if len(differ) != 1:
            continue
        factor = differ[0]
        order = LEVEL_ORDER[factor]
        a, b = sorted((m1, m2), key=lambda m: order.index(specs[m][factor]))
        shown = [f for f in FACTORS if f != factor and (f != "objective" or specs[a][f] != ROLLOUT)]
        fixed = ", ".join(f"{f}={specs[a][f]}" for f in shown)
        yield factor, a, b, specs[a][factor], specs[b][factor], fixed


def _exploratory_rows(data, covered, measure_names, n_resamples, seed, confidence):
    rows = []
    cells = data.groupby(["dataset", "strategy", "control", "score"], sort=False)
    for (dataset, strategy, control, score), cell in cells:
        for factor, a, b, level_a, level_b, fixed in _single_factor_pairs(cell["model"].unique()):
            if (dataset, strategy, control, score, a, b) in covered:
                continue
            test = _compare(
                cell.loc[cell["model"] == a, "area"], cell.loc[cell["model"] == b, "area"],
                n_resamples, seed, confidence,
            )  # fmt: skip
            test.update(t=np.nan, df=np.nan, p=np.nan)
            rows.append(
                {"family": "exploratory", "dataset": dataset,
                 "contrast": f"{level_a} vs {level_b} ({fixed})", "factor": factor,
                 "group_a": level_a, "group_b": level_b, "fixed": fixed, "strategy": strategy,
                 "measure": measure_names.get((control, score), f"{control}/{score}"),
                 "control": control, "score": score, "model_a": a, "model_b": b, **test}
            )  # fmt: skip
    return rows


def resilience_tests(
    areas: pd.DataFrame,
    contrasts: Sequence[Contrast],
    strategies: Sequence[str] = ("weakest_global", "random"),
    measures: Sequence[Measure] = (PAPER_MEASURE, CONTROLLED_MEASURE),
    *,
    exploratory: bool = True,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """The primary family and the exploratory estimates, one row per comparison.

    Primary rows (``family`` "primary"): each data set × contrast × strategy × measure, even
    where a group has no networks (n 0, NaN estimates: the test that could not run stays in
    sight). Columns: dataset, contrast, factor, group_a, group_b, fixed, strategy, measure,
    control, score, model_a, model_b, then welch_test's n_a, n_b, mean_a, mean_b, sd_a, sd_b,
    difference (a − b), ci_low, ci_high (Welch–Satterthwaite ``confidence`` interval), t, df,
    p, cohens_d, d_ci_low, d_ci_high, and p_holm: Holm–Bonferroni over the data set's primary
    rows only. With fewer than 3 seeds in a group t, p, the intervals and d are NaN.

    Exploratory rows (``exploratory``): every other pair of models that differ in one factor,
    under every strategy and (control, score) in ``areas``: the same estimates and intervals,
    t, df, p and p_holm NaN.
    """
    data = _with_factors(areas)
    if data.empty:
        raise ValueError("areas table: no fitted networks")
    measures = measures_from_config(measures)
    for measure in measures:
        if not ((data["control"] == measure.control) & (data["score"] == measure.score)).any():
            raise ValueError(
                f"areas table: no rows for measure {measure.name} (control {measure.control}, "
                f"score {measure.score})"
            )
    for strategy in strategies:
        if strategy not in set(data["strategy"]):
            raise ValueError(f"areas table: no rows for strategy {strategy}")
    primary = _primary_rows(data, contrasts, strategies, measures, n_resamples, seed, confidence)
    tests = pd.DataFrame(primary)
    tests["p_holm"] = np.nan
    for _, group in tests.groupby("dataset"):
        tests.loc[group.index, "p_holm"] = holm_adjust(group["p"])
    if exploratory:
        covered = {
            (r["dataset"], r["strategy"], r["control"], r["score"], r["model_a"], r["model_b"])
            for r in primary
        }
        names = {(m.control, m.score): m.name for m in measures}
        extra = _exploratory_rows(data, covered, names, n_resamples, seed, confidence)
        if extra:
            tests = pd.concat([tests, pd.DataFrame(extra)], ignore_index=True)
    return tests


# ---------------------------------------------------------------- power
def two_sample_power(d: float, n_a: int, n_b: int, alpha: float) -> float:
    """Power of the two-sided two-sample t-test (df n_a + n_b − 2) at level ``alpha`` against a
    standardized difference ``d`` (noncentral t)."""
    from scipy import stats

    df = n_a + n_b - 2
    noncentrality = d * np.sqrt(n_a * n_b / (n_a + n_b))
    critical = stats.t.ppf(1.0 - alpha / 2.0, df)
    upper = stats.nct.sf(critical, df, noncentrality)
    lower = stats.nct.cdf(-critical, df, noncentrality)  # scipy gives NaN for ~0 at large d
    return float(upper + np.nan_to_num(lower))


def minimum_detectable_effect(
    n_a: int, n_b: int, n_tests: int, power: float = 0.8, alpha: float = 0.05
) -> float:
    """The smallest Cohen's d that the Holm family of ``n_tests`` tests detects with ``power``
    at its first (Bonferroni) step, level alpha / n_tests; e.g. 20 per group, one test, alpha
    0.05, power 0.8 -> 0.91."""
    from scipy.optimize import brentq

    if min(n_a, n_b) < 2 or n_tests < 1:
        raise ValueError(f"power: needs >= 2 per group and >= 1 test, got {n_a}, {n_b}, {n_tests}")
    if not (0 < power < 1 and 0 < alpha < 1):
        raise ValueError(f"power: power and alpha must lie in (0, 1), got {power}, {alpha}")
    level = alpha / n_tests
    high = 1.0
    while two_sample_power(high, n_a, n_b, level) < power:
        high *= 2.0
    return float(brentq(lambda d: two_sample_power(d, n_a, n_b, level) - power, 0.0, high))


def summary_line(tests: pd.DataFrame, power: float = 0.8, alpha: float = 0.05) -> str:
    """One line on the primary family: how many tests ran, n per group, the smallest effect it
    could detect (:func:`minimum_detectable_effect` for its smallest groups) and which
    contrasts Holm finds."""
    primary = tests[tests["family"] == "primary"]
    tested = primary[primary["p"].notna()]
    if tested.empty:
        return f"primary family: {len(primary)} test(s), none could run (< 3 seeds per group)"
    n = pd.concat([tested["n_a"], tested["n_b"]])
    smallest = tested.loc[
        (tested["n_a"] * tested["n_b"] / (tested["n_a"] + tested["n_b"])).idxmin()
    ]
    mde = minimum_detectable_effect(int(smallest.n_a), int(smallest.n_b), len(tested), power, alpha)
    found = tested[tested["p_holm"] < alpha]
    n_range = f"{n.min()}" if n.min() == n.max() else f"{n.min()}–{n.max()}"
    names = "; ".join(
        f"{r.contrast} {r.strategy} {r.measure} {r.difference:+.3g} "
        f"[{r.ci_low:.3g}, {r.ci_high:.3g}] p_holm={r.p_holm:.2g}"
        for r in found.itertuples()
    )
    return (
        f"primary family: {len(tested)} of {len(primary)} test(s) ran, n = {n_range} per "
        f"group; smallest detectable |d| at {power:.0%} power (Holm's first step, alpha "
        f"{alpha:g}/{len(tested)}): {mde:.2f}; Holm p < {alpha:g}: {len(found)}"
        + (f" ({names})" if names else "")
    )
