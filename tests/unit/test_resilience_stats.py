"""The resilience experiment's statistics (neurocircuit.ablation.resilience_stats) and its
paper-style figure (neurocircuit.figures.resilience), on small synthetic tables."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from neurocircuit.ablation.resilience_stats import (
    CONTROLLED_MEASURE,
    PAPER_CONTRASTS,
    PAPER_MEASURE,
    filter_by_intact_pvar,
    minimum_detectable_effect,
    primary_contrasts,
    resilience_tests,
    summary_line,
    welch_interval,
)
from neurocircuit.figures.resilience import plot_resilience
from neurocircuit.statistics import welch_test
from scipy import stats

MODELS = ("spiking_nodale_eprop", "spiking_dale_eprop", "rate_nodale_eprop", "rate_dale_eprop")
STRATEGIES = ("weakest_global", "random")
LEVELS = np.linspace(0.0, 1.0, 21)
BAD_SEEDS = {("rate_nodale_eprop", 0), ("rate_nodale_eprop", 1), ("spiking_dale_eprop", 3)}
"""Networks whose intact pVar is 0.7: the filter drops them."""


def synthetic_curves(n_seeds: int = 6, teacher: bool = True) -> pd.DataFrame:
    """Curves falling as 1 − level^k, k larger (more resilient) for Dale and for spiking; rate
    no-Dale networks diverge (ratio −3) once most connections are gone; random has 3 repeats."""
    rng = np.random.default_rng(0)
    rows = []
    models = MODELS + (("teacher",) if teacher else ())
    for model in models:
        exponent = 1.0 + 1.5 * ("_dale" in model) + 0.7 * model.startswith("spiking")
        for seed in range(1 if model == "teacher" else n_seeds):
            intact = 0.7 if (model, seed) in BAD_SEEDS else 0.9 + 0.01 * rng.random()
            k = exponent * np.exp(rng.normal(0, 0.15))
            for strategy, control in [(s, c) for s in STRATEGIES for c in ("none", "mean_drive")]:
                for repeat in range(3 if strategy == "random" else 1):
                    ratio = 1 - LEVELS**k + rng.normal(0, 0.02, LEVELS.size) * (LEVELS > 0)
                    if model == "rate_nodale_eprop":
                        ratio = np.where(LEVELS > 0.8, -3.0, ratio)
                    rows += [
                        {"dataset": "zebrafish", "model": model, "seed": seed,
                         "strategy": strategy, "control": control, "level": level,
                         "repeat": repeat, "pvar": intact * value, "pvar_ratio": value,
                         "pvar_per_neuron_median": 0.6 * (value + (control == "mean_drive"))/2}
                        for level, value in zip(LEVELS, ratio, strict=True)
                    ]  # fmt: skip
    return pd.DataFrame(rows)


def synthetic_areas(curves: pd.DataFrame) -> pd.DataFrame:
    """Areas of the mean curves (ratios floored at 0), both scores."""
    rows = []
    keys = ["dataset", "model", "seed", "strategy", "control"]
    for key, group in curves.groupby(keys):
        mean = group.groupby("level")[["pvar_ratio", "pvar_per_neuron_median"]].mean().clip(0)
        for score, column in (("ratio", "pvar_ratio"), ("per_neuron", "pvar_per_neuron_median")):
            values = mean[column] / mean[column].iloc[0]
            area = np.trapezoid(values.to_numpy(), mean.index.to_numpy())
            rows.append(dict(zip(keys, key, strict=True), score=score, area=area))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- contrasts and measures
def test_primary_contrasts_parse_the_paper_list():
    contrasts = primary_contrasts(list(PAPER_CONTRASTS))
    assert [c.name for c in contrasts] == [
        "dale_vs_nodale_rate", "dale_vs_nodale_spiking", "spiking_vs_rate_dale",
    ]  # fmt: skip
    assert contrasts[0].fixed == (("dynamics", "rate"),)
    assert contrasts[2].factor == "dynamics" and (contrasts[2].a, contrasts[2].b) == (
        "spiking",
        "rate",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"factor": "dal"}, "unknown factor 'dal'"),
        ({"factor": "method", "a": "bptt", "b": "eprop"}, "unknown factor 'method'"),
        ({"b": "nodal"}, "unknown level b='nodal'"),
        ({"fixed": {"dynamics": "ratee"}}, "unknown level 'ratee' of fixed factor dynamics"),
        ({"fixed": {"dale": "dale"}}, "fixed factor 'dale' is not one of"),
        ({"b": "dale"}, "a and b are both 'dale'"),
        ({"colour": "red"}, "unknown key(s) colour"),
    ],
)
def test_bad_contrast_gives_one_line_error(change, message):
    entry = {**PAPER_CONTRASTS[0], **change}
    with pytest.raises(ValueError) as error:
        primary_contrasts([entry], source="config.yaml resilience.primary_contrasts")
    text = str(error.value)
    assert message in text and "\n" not in text
    assert text.startswith("config.yaml resilience.primary_contrasts[0]: ")


def test_duplicate_contrast_names_are_refused():
    with pytest.raises(ValueError, match="used twice: dale_vs_nodale_rate"):
        primary_contrasts([PAPER_CONTRASTS[0], PAPER_CONTRASTS[0]])


# ---------------------------------------------------------------- Welch interval and power
def test_welch_interval_matches_scipy():
    a = np.array([0.61, 0.72, 0.55, 0.80, 0.67, 0.70, 0.59])
    b = np.array([0.41, 0.52, 0.30, 0.66, 0.35])
    expected = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    low, high = welch_interval(a, b)
    assert low == pytest.approx(expected.low, rel=1e-12)
    assert high == pytest.approx(expected.high, rel=1e-12)
    pooled = stats.ttest_ind(a, b).confidence_interval(0.95)
    assert abs(low - pooled.low) > 1e-3  # Welch's, not the pooled-variance interval
    low99, high99 = welch_interval(a, b, confidence=0.99)
    assert low99 < low and high99 > high


def test_seeds_that_gave_one_network_are_no_sample():
    # three seeds of a deterministic start: the same area up to rounding in each group
    a = 0.4567 + np.array([0.0, 1e-16, -1e-16])
    b = 0.3921 + np.array([5e-17, 0.0, 0.0])
    assert np.isnan(welch_interval(a, b)).all()
    result = welch_test(a, b)
    assert np.isnan(result["p"]) and np.isnan(result["t"])
    assert result["difference"] == pytest.approx(0.0646)
    # a real, if small, spread is tested
    assert welch_test(a + [0.0, 1e-4, -1e-4], b)["p"] < 1e-3


def test_minimum_detectable_effect_known_values():
    # G*Power: two-sided two-sample t, n = 20 per group, alpha 0.05, power 0.8 -> d = 0.9091
    assert minimum_detectable_effect(20, 20, 1) == pytest.approx(0.9091, abs=5e-4)
    # Holm's first step of 12 tests is alpha / 12: a larger effect is needed
    assert minimum_detectable_effect(20, 20, 12) == pytest.approx(1.2397, abs=1e-3)
    # the old summary: 3 seeds, 224 tests: only d of about 12.7 was detectable
    assert minimum_detectable_effect(3, 3, 224) == pytest.approx(12.74, abs=0.05)
    with pytest.raises(ValueError, match=">= 2 per group"):
        minimum_detectable_effect(1, 20, 1)


# ---------------------------------------------------------------- the filter
def test_filter_drops_networks_under_the_intact_threshold_and_counts_them():
    curves = synthetic_curves()
    areas = synthetic_areas(curves)
    kept = filter_by_intact_pvar(curves, areas, threshold=0.8)
    dropped = kept.dropped.set_index("model")
    assert "teacher" not in dropped.index
    assert dropped.loc["rate_nodale_eprop", ["n_networks", "n_dropped", "n_kept"]].tolist() == [
        6, 2, 4,
    ]  # fmt: skip
    assert dropped.loc["rate_nodale_eprop", "dropped_seeds"] == "0 1"
    assert dropped.loc["spiking_dale_eprop", "n_dropped"] == 1
    assert dropped["n_dropped"].sum() == len(BAD_SEEDS)
    assert dropped.loc["rate_dale_eprop", "dale"] == "dale"
    for table in (kept.curves, kept.areas):
        pairs = set(zip(table["model"], table["seed"], strict=True))
        assert not pairs & BAD_SEEDS
        assert ("teacher", 0) in pairs
    assert len(kept.areas) == len(areas) - len(BAD_SEEDS) * 8  # 2 strategies × 2 controls × 2
    assert filter_by_intact_pvar(curves, threshold=0.5).dropped["n_dropped"].sum() == 0


def test_filter_refuses_a_network_without_an_intact_point():
    curves = synthetic_curves(n_seeds=3, teacher=False)
    curves = curves[~((curves["model"] == "rate_dale_eprop") & (curves["seed"] == 2)
                      & (curves["level"] == 0))]  # fmt: skip
    with pytest.raises(ValueError, match="rate_dale_eprop/seed2 has no point at level 0"):
        filter_by_intact_pvar(curves)


# ---------------------------------------------------------------- tests
def holm_by_hand(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def test_holm_runs_over_the_primary_family_only():
    areas = synthetic_areas(synthetic_curves(teacher=True))
    contrasts = primary_contrasts(list(PAPER_CONTRASTS))
    tests = resilience_tests(areas, contrasts, STRATEGIES, [PAPER_MEASURE, CONTROLLED_MEASURE])
    primary = tests[tests["family"] == "primary"]
    exploratory = tests[tests["family"] == "exploratory"]
    assert len(primary) == 3 * 2 * 2
    assert primary["n_a"].eq(6).all() and primary["n_b"].eq(6).all()
    np.testing.assert_allclose(primary["p_holm"], holm_by_hand(primary["p"].to_numpy()))
    assert primary["p_holm"].min() == pytest.approx(min(1.0, 12 * primary["p"].min()))
    assert len(exploratory) > 0 and exploratory[["p", "p_holm", "t"]].isna().all().all()
    assert exploratory[["ci_low", "ci_high"]].notna().all().all()
    # an exploratory pair: spiking vs rate without Dale, not among the primary contrasts
    assert "spiking vs rate (dale=nodale, method=eprop)" in set(exploratory["contrast"])
    # no (strategy, measure, pair) appears in both families
    key = ["strategy", "control", "score", "model_a", "model_b"]
    assert not set(map(tuple, primary[key].to_numpy())) & set(
        map(tuple, exploratory[key].to_numpy())
    )
    row = primary[(primary["contrast"] == "dale_vs_nodale_rate") & (primary["strategy"] == "random")
                  & (primary["measure"] == "paper")].iloc[0]  # fmt: skip
    a = areas[(areas["model"] == "rate_dale_eprop") & (areas["strategy"] == "random")
              & (areas["control"] == "none") & (areas["score"] == "ratio")]["area"]  # fmt: skip
    b = areas[(areas["model"] == "rate_nodale_eprop") & (areas["strategy"] == "random")
              & (areas["control"] == "none") & (areas["score"] == "ratio")]["area"]  # fmt: skip
    assert row["difference"] == pytest.approx(a.mean() - b.mean())
    assert row["p"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(welch_interval(a, b))
    assert row["difference"] > 0.1  # areas near 0.71 against 0.48 (Dale 1 − x^2.5, no Dale 1 − x)


def test_tests_refuse_pooled_models_and_missing_measures():
    areas = synthetic_areas(synthetic_curves(n_seeds=3, teacher=False))
    extra = areas[areas["model"] == "rate_dale_eprop"].assign(model="rate_dale_bptt")
    contrasts = primary_contrasts(list(PAPER_CONTRASTS))
    with pytest.raises(ValueError, match="pools models rate_dale_bptt, rate_dale_eprop"):
        resilience_tests(pd.concat([areas, extra]), contrasts, STRATEGIES, [PAPER_MEASURE])
    no_drive = areas[areas["control"] == "none"]
    with pytest.raises(ValueError, match="no rows for measure controlled"):
        resilience_tests(no_drive, contrasts, STRATEGIES, [PAPER_MEASURE, CONTROLLED_MEASURE])


def test_summary_line_states_family_power_and_findings():
    areas = synthetic_areas(synthetic_curves())
    tests = resilience_tests(
        areas, primary_contrasts(list(PAPER_CONTRASTS)), STRATEGIES, [PAPER_MEASURE]
    )
    line = summary_line(tests)
    assert "\n" not in line
    assert line.startswith("primary family: 6 of 6 test(s) ran, n = 6 per group")
    assert f"{minimum_detectable_effect(6, 6, 6):.2f}" in line
    assert "dale_vs_nodale_rate weakest_global paper" in line
    few = tests.assign(p=np.nan)
    assert "none could run" in summary_line(few)


# ---------------------------------------------------------------- the figure
@pytest.mark.parametrize("measure", [PAPER_MEASURE, CONTROLLED_MEASURE])
def test_resilience_figure_is_written(tmp_path, measure):
    curves = synthetic_curves()
    areas = synthetic_areas(curves)
    tests = resilience_tests(areas, primary_contrasts(list(PAPER_CONTRASTS)), STRATEGIES,
                             [PAPER_MEASURE, CONTROLLED_MEASURE])  # fmt: skip
    png, pdf = tmp_path / f"{measure.name}.png", tmp_path / f"{measure.name}.pdf"
    plot_resilience(curves, areas, tests, measure, png, pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    image = matplotlib.image.imread(png)
    assert image.shape[0] > 600 and image.shape[1] > 1000
    assert image[..., :3].std() > 0.05, "the PNG is (nearly) blank"
    assert not list(tmp_path.glob("*.part"))
    with pytest.raises(ValueError, match="no Measure"):
        missing = CONTROLLED_MEASURE._replace(control="none")
        plot_resilience(curves, areas[areas["score"] == "ratio"], tests, missing, png, pdf)


def test_curve_band_is_the_normal_95_interval_over_networks():
    import matplotlib.pyplot as plt
    from neurocircuit.figures.resilience import _curve_panel, _score_curves

    values = np.array([-0.4, -0.1, 0.0, 0.3])
    per_seed = [
        {"model": "rate_dale_eprop", "seed": seed, "level": level, "repeat": repeat,
         "pvar_ratio": (1.0 if level == 0 else value) + 0.1 * (repeat - 0.5)}
        for seed, value in enumerate(values) for level in (0.0, 0.5) for repeat in (0, 1)
    ]  # fmt: skip
    per_network = _score_curves(pd.DataFrame(per_seed), "ratio")
    fig, ax = plt.subplots()
    n_below, lowest = _curve_panel(ax, per_network, ["rate_dale_eprop"], (0.0, 1.0))
    band = ax.collections[0].get_paths()[0].vertices
    plt.close(fig)
    half = 1.959964 * values.std(ddof=1) / 2.0  # repeats averaged first: n = 4 networks
    at_half = band[np.isclose(band[:, 0], 0.5), 1]
    assert [at_half.min(), at_half.max()] == pytest.approx([-0.05 - half, -0.05 + half])
    assert n_below == 0 and lowest == pytest.approx(-0.05 - half)


def test_curve_panel_marks_the_floor_and_where_a_mean_leaves_the_axis():
    import matplotlib.pyplot as plt
    from neurocircuit.figures.resilience import Y_FLOOR, _curve_panel

    means = {0.0: 1.0, 0.25: 0.5, 0.5: -2.0, 0.75: -3.0, 1.0: 0.2}
    rows = [{"model": "rate_dale_eprop", "seed": seed, "level": level, "value": value + 0.01 * seed}
            for seed in range(3) for level, value in means.items()]  # fmt: skip
    fig, ax = plt.subplots()
    n_below, _ = _curve_panel(ax, pd.DataFrame(rows), ["rate_dale_eprop"], (0.0, 1.0))
    lines = {line.get_marker(): line for line in ax.get_lines()}
    plt.close(fig)
    assert n_below == 2
    # the first level whose mean is under the floor gets the triangle, on the floor
    triangle = lines["v"].get_xydata()
    assert triangle.tolist() == [[0.5, Y_FLOOR]]
    # the floor bar: the mean with every connection removed, at the panel's right edge
    bars = [line.get_xydata() for line in ax.get_lines() if line.get_linewidth() == 4]
    assert len(bars) == 1 and bars[0][:, 1] == pytest.approx([0.21, 0.21])
    assert bars[0][:, 0].max() == 1.0


def test_holm_family_is_per_data_set():
    areas = synthetic_areas(synthetic_curves(teacher=False))
    contrasts = primary_contrasts(list(PAPER_CONTRASTS))
    alone = resilience_tests(areas, contrasts, STRATEGIES, [PAPER_MEASURE], exploratory=False)
    both = resilience_tests(
        pd.concat([areas, areas.assign(dataset="demo")]), contrasts, STRATEGIES, [PAPER_MEASURE]
    )
    for dataset in ("zebrafish", "demo"):
        rows = both[(both["dataset"] == dataset) & (both["family"] == "primary")]
        np.testing.assert_allclose(rows["p_holm"], alone["p_holm"])


def test_a_contrast_without_networks_stays_in_sight_and_out_of_holm():
    curves = synthetic_curves(teacher=False)
    level0 = (curves["model"] == "rate_dale_eprop") & (curves["seed"] == 5) & (curves["level"] == 0)
    assert (
        filter_by_intact_pvar(curves.assign(pvar=curves["pvar"].mask(level0)))
        .dropped.set_index("model")
        .loc["rate_dale_eprop", "dropped_seeds"]
        == "5"
    )  # NaN intact pVar: dropped
    areas = synthetic_areas(curves)
    areas = areas[areas["model"] != "spiking_nodale_eprop"]
    contrasts = primary_contrasts(list(PAPER_CONTRASTS))
    tests = resilience_tests(areas, contrasts, STRATEGIES, [PAPER_MEASURE], exploratory=False)
    missing = tests[tests["contrast"] == "dale_vs_nodale_spiking"]
    assert len(missing) == 2 and missing["n_b"].eq(0).all() and missing["model_b"].eq("").all()
    assert missing[["p", "p_holm", "ci_low"]].isna().all().all()
    ran = tests[tests["p"].notna()]
    np.testing.assert_allclose(ran["p_holm"], holm_by_hand(ran["p"].to_numpy()))  # m = 4
    assert summary_line(tests).startswith("primary family: 4 of 6 test(s) ran")
