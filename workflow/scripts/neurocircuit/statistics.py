"""Two-sample statistics of the ablation summary: Welch's t-test, Cohen's d with a bootstrap
interval, and the Holm–Bonferroni correction of a family of p-values.

Welch's t-test (unequal variances), for samples a and b of sizes n_a, n_b, means m, variances
s² (ddof 1):

    t  = (m_a − m_b) / sqrt(s_a²/n_a + s_b²/n_b)
    df = (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)² / (n_a − 1) + (s_b²/n_b)² / (n_b − 1))
    p  = 2 · P(T_df > |t|)                         (two-sided, Student's t with df degrees)

Cohen's d in its average-variance form, which suits unequal variances:
d = (m_a − m_b) / sqrt((s_a² + s_b²) / 2). Its 95 % interval is the percentile bootstrap:
each group resampled with replacement within itself, d recomputed, the 2.5 and 97.5 percentiles
of the resampled d taken (resamples whose d is undefined, both groups constant, are left out).

Holm–Bonferroni (Holm 1979): with the m p-values of a family sorted p_(1) <= ... <= p_(m),
the adjusted p_(i) = max over j <= i of min(1, (m − j + 1) · p_(j)) (the running maximum keeps
the adjusted values in the order of the raw ones). It controls the family-wise error rate.
"""

from __future__ import annotations

import numpy as np

MIN_REPLICATES = 3
"""Fewest values per group for a test: with fewer, a t-test or an effect size means nothing."""
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


CONSTANT_RELATIVE_SD = 1e-9
"""Samples whose standard error is below this fraction of their largest |value| are constant:
seeds that gave the same network up to rounding (a deterministic start) are one sample, and a
t-test on rounding noise would find anything."""


def both_constant(a: np.ndarray, b: np.ndarray) -> bool:
    """True when the standard error of mean_a − mean_b is 0 up to :data:`CONSTANT_RELATIVE_SD`
    of the values' scale."""
    se2 = a.var(ddof=1) / a.size + b.var(ddof=1) / b.size
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()))
    return bool(se2 <= (CONSTANT_RELATIVE_SD * scale) ** 2)


def welch_se_df(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The Welch–Satterthwaite standard error of mean_a − mean_b and its degrees of freedom
    (finite samples of at least 2 values each); NaN, NaN where both samples are constant
    (:func:`both_constant`). The one place Welch's test and interval take them from."""
    if both_constant(a, b):
        return float("nan"), float("nan")
    var_a, var_b = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se2 = var_a + var_b
    df = se2**2 / (var_a**2 / (a.size - 1) + var_b**2 / (b.size - 1))
    return float(np.sqrt(se2)), float(df)


def welch_t(group_a, group_b) -> tuple[float, float, float]:
    """Welch's ``(t, df, p)`` of two samples (each at least 2 values); NaN where both samples
    are constant (:func:`both_constant`: replicates that are one network computed again)."""
    from scipy import stats

    a, b = _finite(group_a), _finite(group_b)
    if a.size < 2 or b.size < 2:
        raise ValueError(f"Welch's t-test needs >= 2 values per group, got {a.size} and {b.size}")
    se, df = welch_se_df(a, b)
    if not np.isfinite(se):
        return float("nan"), float("nan"), float("nan")
    t = (a.mean() - b.mean()) / se
    return float(t), float(df), float(2.0 * stats.t.sf(abs(t), df))


def cohens_d(group_a, group_b) -> float:
    """(mean_a − mean_b) / sqrt((sd_a² + sd_b²) / 2); NaN when both samples are constant."""
    a, b = _finite(group_a), _finite(group_b)
    return float(_cohens_d_rows(a[None, :], b[None, :])[0])


def _cohens_d_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cohen's d of each row pair of ``a`` (R, n_a) and ``b`` (R, n_b)."""
    pooled = np.sqrt((a.var(axis=1, ddof=1) + b.var(axis=1, ddof=1)) / 2.0)
    difference = a.mean(axis=1) - b.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pooled > 0, difference / pooled, np.nan)


def bootstrap_d_interval(
    group_a,
    group_b,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """Percentile bootstrap interval of Cohen's d: ``n_resamples`` resamples of each group
    within itself (with replacement, ``seed``), the (1 − confidence) / 2 and (1 + confidence) / 2
    percentiles of their d. NaN when no resample has a defined d."""
    a, b = _finite(group_a), _finite(group_b)
    if a.size < 2 or b.size < 2:
        raise ValueError(f"a bootstrap of d needs >= 2 values per group, got {a.size}, {b.size}")
    rng = np.random.default_rng(seed)
    resampled_a = a[rng.integers(0, a.size, size=(n_resamples, a.size))]
    resampled_b = b[rng.integers(0, b.size, size=(n_resamples, b.size))]
    d = _cohens_d_rows(resampled_a, resampled_b)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(d, [tail, 100.0 - tail])
    return float(low), float(high)


def holm_adjust(p_values) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in the input's order. NaN entries (tests not run) stay
    NaN and are not counted in the family."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    if tested.size == 0:
        return adjusted
    order = tested[np.argsort(p[tested], kind="stable")]
    m = order.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def welch_test(
    group_a,
    group_b,
    *,
    min_n: int = MIN_REPLICATES,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> dict:
    """Compare two samples: sizes, means, sds, difference of means (a − b), Welch's t, df and p,
    Cohen's d and its bootstrap interval (d_ci_low, d_ci_high).

    NaN values (networks with nothing to lose) are left out first. With fewer than ``min_n``
    values in either group only the sizes, means, sds and difference are given; t, df, p, d and
    its interval are NaN (so such a comparison joins no family of tests).
    """
    a, b = _finite(group_a), _finite(group_b)
    mean_a = float(a.mean()) if a.size else float("nan")
    mean_b = float(b.mean()) if b.size else float("nan")
    result = {
        "n_a": int(a.size),
        "n_b": int(b.size),
        "mean_a": mean_a,
        "mean_b": mean_b,
        "sd_a": float(a.std(ddof=1)) if a.size > 1 else float("nan"),
        "sd_b": float(b.std(ddof=1)) if b.size > 1 else float("nan"),
        "difference": mean_a - mean_b,
        "t": float("nan"),
        "df": float("nan"),
        "p": float("nan"),
        "cohens_d": float("nan"),
        "d_ci_low": float("nan"),
        "d_ci_high": float("nan"),
    }
    if a.size < max(min_n, 2) or b.size < max(min_n, 2):
        return result
    t, df, p = welch_t(a, b)
    if not np.isfinite(t):
        return result
    low, high = bootstrap_d_interval(a, b, n_resamples, seed)
    result.update(t=t, df=df, p=p, cohens_d=cohens_d(a, b), d_ci_low=low, d_ci_high=high)
    return result
