"""Ablation orders and masks on tiny matrices (sign-aware and global), the inhibitory share of
what is removed, areas under curves, the statistics (Welch, Cohen's d, bootstrap, Holm) against
hand-worked values, and the single-factor comparisons of the summary."""

import math

import numpy as np
import pandas as pd
import pytest
from neurocircuit import ablation
from neurocircuit.statistics import welch_test

# W[i, j]: from presynaptic j to postsynaptic i. Connections (flat index: weight):
# 1: 0.5 (1->0), 3: 0.6 (0->1), 5: 5 (2->1), 6: 0.7 (0->2), 7: 0.8 (1->2).
# Strength (in + out): neuron 0 = 0.5 + 1.3, neuron 1 = 5.6 + 1.3, neuron 2 = 1.5 + 5.
W = np.array([[0.0, 0.5, 0.0], [0.6, 0.0, 5.0], [0.7, 0.8, 0.0]])


# A signed hand matrix. Excitatory (flat: w): 1: 1, 3: 3, 7: 0.5 (mean 1.5); inhibitory: 2: -2,
# 6: -4 (mean 3). Class-normalised: 1: 2/3, 3: 2, 7: 1/3; 2: 2/3, 6: 4/3.
SIGNED = np.array([[0.0, 1.0, -2.0], [3.0, 0.0, 0.0], [-4.0, 0.5, 0.0]])


def removed(mask):
    return sorted(int(i) for i in np.flatnonzero(mask.ravel() == 0))


@pytest.mark.parametrize("suffix", ["", "_global"])
def test_deterministic_orders(suffix):
    # one class only (all excitatory): the sign-aware orders are the global ones
    assert list(ablation.removal_order(W, "weakest" + suffix)) == [1, 3, 6, 7, 5]
    assert list(ablation.removal_order(W, "strongest" + suffix)) == [5, 7, 6, 3, 1]
    # Hub 1 first (its connections 5, 7, 3, 1 by |W|), then hub 2 (only 6 is left).
    assert list(ablation.removal_order(W, "hubs" + suffix)) == [5, 7, 3, 1, 6]


def test_exact_masks_at_sixty_percent():
    # 0.6 of 5 connections = 3 removed.
    expected = {"weakest": [1, 3, 6], "strongest": [5, 6, 7], "hubs": [3, 5, 7]}
    for strategy, flat in expected.items():
        mask = ablation.ablation_mask(W, strategy, 0.6)
        assert removed(mask) == flat, strategy
        assert set(np.unique(mask)) <= {0.0, 1.0}


def test_ties_break_by_index_and_signs_count_by_magnitude():
    w = np.array([[0.0, -2.0], [2.0, 0.0]])
    for strategy in ("weakest", "strongest", "weakest_global", "strongest_global"):
        assert list(ablation.removal_order(w, strategy)) == [1, 2], strategy


def test_sign_aware_orders_on_a_hand_matrix():
    # within-class quantiles (r + 0.5) / n_c; strongest: E 3, 1, 7 -> 1/6, 1/2, 5/6;
    # I 6, 2 -> 1/4, 3/4; merged 3 (1/6), 6 (1/4), 1 (1/2), 2 (3/4), 7 (5/6)
    assert list(ablation.removal_order(SIGNED, "strongest")) == [3, 6, 1, 2, 7]
    assert list(ablation.removal_order(SIGNED, "strongest_global")) == [6, 3, 2, 1, 7]
    # weakest: E 7, 1, 3 -> 1/6, 1/2, 5/6; I 2, 6 -> 1/4, 3/4
    assert list(ablation.removal_order(SIGNED, "weakest")) == [7, 2, 1, 6, 3]
    assert list(ablation.removal_order(SIGNED, "weakest_global")) == [7, 1, 2, 3, 6]
    # hubs: normalised strength neuron 0 = 2 + 4/3 + 2/3 + 2/3, 1 = 3, 2 = 7/3; raw: 10, 4.5, 6.5.
    # Sign-aware: hub 0 owns 3, 6, 1, 2 (by normalised |w|), then 7; E 3, 1, 7 / I 6, 2 as above.
    assert list(ablation.removal_order(SIGNED, "hubs")) == [3, 6, 1, 2, 7]
    # Global: hub 0 owns 6, 3, 2, 1 (by |w|), then hub 2 owns 7.
    assert list(ablation.removal_order(SIGNED, "hubs_global")) == [6, 3, 2, 1, 7]
    # the quantile is (r + 0.5) / n_c: one inhibitory connection among four excitatory ones sits
    # at 1/2, between the excitatory 3/8 and 5/8, so it goes third (not first, as r / n_c gives)
    w = np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 4.0], [-1.0, 0.0, 0.0]])
    assert list(ablation.removal_order(w, "strongest")) == [5, 3, 6, 2, 1]


def test_class_normalised_magnitude_breaks_ties_between_classes():
    # E +1, +3 (mean 2: 0.5, 1.5); I -5, -6 (mean 5.5: 0.91, 1.09). Both classes' first have
    # quantile 1/4: the larger normalised magnitude goes first, E's 3 (1.5) before I's -6 (1.09);
    # at 3/4, I's -5 (0.91) before E's 1 (0.5). Weakest: smaller first, 1 (0.5) before -5 (0.91).
    w = np.array([[0.0, 1.0, -5.0], [3.0, 0.0, -6.0], [0.0, 0.0, 0.0]])
    assert list(ablation.removal_order(w, "strongest")) == [3, 5, 2, 1]
    assert list(ablation.removal_order(w, "strongest_global")) == [5, 2, 3, 1]
    assert list(ablation.removal_order(w, "weakest")) == [1, 2, 5, 3]


def test_sign_aware_hubs_rank_neurons_by_class_normalised_strength():
    # neuron 2 is inhibitory (-3 on each of its outputs), 0 and 1 excitatory (mean |w| 1.25).
    # Raw strength 7, 7, 8: hub 2 first. Class-normalised (E / 1.25, I / 3): 4.2, 4.2, 3.6: hub 0
    # owns 3 (1.6), 2 (1), 1 (0.8), 6 (0.8); hub 1 owns 5 (1), 7 (0.8). E's quantiles: 3, 1, 6, 7
    # -> 1/8, 3/8, 5/8, 7/8; I's: 2, 5 -> 1/4, 3/4.
    w = np.array([[0.0, 1.0, -3.0], [2.0, 0.0, -3.0], [1.0, 1.0, 0.0]])
    assert list(ablation.removal_order(w, "hubs")) == [3, 2, 1, 6, 5, 7]
    # hub 2 owns 2, 5 (3 each), 6, 7 (1 each); then hub 0 owns 3, 1
    assert list(ablation.removal_order(w, "hubs_global")) == [2, 5, 6, 7, 3, 1]


def test_inhibitory_share_on_a_hand_matrix():
    # strongest at 0.2: flat 3 (+3) only; at 0.4: 3 and 6 (-4): 4 / 7; at 0.6: + 1 (+1): 4 / 8
    curves = ablation.ablation_curves(
        SIGNED, lambda mask: 1.0, [0.0, 0.2, 0.4, 0.6, 1.0], ["strongest", "strongest_global"]
    ).set_index(["strategy", "fraction"])["inhibitory_share"]
    assert np.isnan(curves[("strongest", 0.0)])
    assert curves[("strongest", 0.2)] == pytest.approx(0.0)
    assert curves[("strongest", 0.4)] == pytest.approx(4 / 7)
    assert curves[("strongest", 0.6)] == pytest.approx(4 / 8)
    assert curves[("strongest", 1.0)] == pytest.approx(6 / 10.5)
    assert curves[("strongest_global", 0.2)] == pytest.approx(1.0)  # flat 6 (-4) alone
    assert curves[("strongest_global", 0.6)] == pytest.approx(6 / 9)  # 6, 3, 2
    mask = np.ones((3, 3))
    mask[0, 2] = mask[2, 1] = 0  # -2 and +0.5
    assert ablation.inhibitory_share(SIGNED, mask) == pytest.approx(2 / 2.5)
    mask[0, 0] = 0  # not a connection: changes nothing
    assert ablation.inhibitory_share(SIGNED, mask) == pytest.approx(2 / 2.5)
    assert np.isnan(ablation.inhibitory_share(SIGNED, np.ones((3, 3))))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_class_only_orders_remove_one_class(seed):
    excitatory, inhibitory = [1, 3, 7], [2, 6]
    for fraction, n_exc in ((0.0, 0), (0.5, 2), (2 / 3, 2), (1.0, 3)):
        gone = removed(ablation.ablation_mask(SIGNED, "excitatory_only", fraction, seed))
        assert len(gone) == n_exc and set(gone) <= set(excitatory)
        assert all(SIGNED.ravel()[i] > 0 for i in gone)
    for fraction, n_inh in ((0.25, 1), (0.5, 1), (1.0, 2)):  # round half up: 0.5 * 2 = 1
        gone = removed(ablation.ablation_mask(SIGNED, "inhibitory_only", fraction, seed))
        assert len(gone) == n_inh and set(gone) <= set(inhibitory)
    curves = ablation.ablation_curves(
        SIGNED, lambda mask: 1.0, [0.0, 0.5, 1.0], ["excitatory_only", "inhibitory_only"], 3, seed
    )
    assert sorted(set(curves["repeat"])) == [0, 1, 2]  # repeated like random
    share = curves[curves["fraction"] > 0].groupby("strategy")["inhibitory_share"]
    assert (share.max()["excitatory_only"], share.min()["inhibitory_only"]) == (0.0, 1.0)
    assert curves.groupby("strategy")["n_removed"].max().to_dict() == {
        "excitatory_only": 3,
        "inhibitory_only": 2,
    }
    orders = {tuple(ablation.removal_order(SIGNED, "excitatory_only", s)) for s in range(6)}
    assert len(orders) > 1  # seeded: different seeds, different orders


def balanced_dale_matrix(n=522, exc_fraction=0.8, seed=0):
    """W[post, pre] of a Dale network with E–I balance at initialisation: |N(0, 1)| magnitudes,
    each inhibitory column scaled by n_exc / n_inh (4 at 80/20), no self-connections."""
    rng = np.random.default_rng(seed)
    n_exc = int(exc_fraction * n)
    scale = np.where(np.arange(n) < n_exc, 1.0, -n_exc / (n - n_exc))
    weight = np.abs(rng.normal(size=(n, n))) * scale[None, :]
    np.fill_diagonal(weight, 0.0)
    return weight


def test_sign_aware_strongest_removes_the_same_share_of_each_class():
    w = balanced_dale_matrix()
    exc, inh = w > 0, w < 0
    for strategy in ("strongest", "weakest", "hubs"):
        mask = ablation.ablation_mask(w, strategy, 0.1)
        gone = (mask == 0) & (w != 0)
        for members in (exc, inh):
            assert abs(gone[members].sum() - 0.1 * members.sum()) <= 1, strategy
    # strongest: the k_c largest of each class go, so the share is computable from sorted classes
    gone = ablation.ablation_mask(w, "strongest", 0.1) == 0
    k_exc, k_inh = int((gone & exc).sum()), int((gone & inh).sum())
    top_exc = np.sort(np.abs(w[exc]))[::-1][:k_exc].sum()
    top_inh = np.sort(np.abs(w[inh]))[::-1][:k_inh].sum()
    assert np.abs(w[gone & inh]).sum() == pytest.approx(top_inh)
    share = ablation.ablation_curves(w, lambda mask: 1.0, [0.0, 0.1], ["strongest"])
    assert share["inhibitory_share"].iloc[1] == pytest.approx(top_inh / (top_inh + top_exc))
    # the global order removes mostly inhibitory connections (~96 % of the first 10 %)
    gone_global = (ablation.ablation_mask(w, "strongest_global", 0.1) == 0) & (w != 0)
    assert 0.93 < (gone_global & inh).sum() / gone_global.sum() < 0.99
    # global hubs: the inhibitory neurons are the strongest hubs, so their connections go first
    gone_hubs = (ablation.ablation_mask(w, "hubs_global", 0.1) == 0) & (w != 0)
    assert (gone_hubs & inh).sum() / gone_hubs.sum() > 0.5  # of 20 % of all connections


def test_random_masks_remove_existing_connections_only_and_nest():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(12, 12)) * (rng.random((12, 12)) < 0.5)
    existing = set(np.flatnonzero(w.ravel()))
    previous = set()
    for fraction in (0.0, 0.25, 0.5, 1.0):
        gone = set(removed(ablation.ablation_mask(w, "random", fraction, seed=7)))
        assert gone <= existing
        assert len(gone) == ablation.n_removed(fraction, len(existing))
        assert previous <= gone
        previous = gone
    assert previous == existing
    a = ablation.ablation_mask(w, "random", 0.5, seed=1)
    b = ablation.ablation_mask(w, "random", 0.5, seed=1)
    c = ablation.ablation_mask(w, "random", 0.5, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_ablate_connections_zeroes_the_removed_weights():
    ablated, mask = ablation.ablate_connections(W, "strongest", 0.2)
    assert removed(mask) == [5]
    assert ablated[1, 2] == 0 and ablated[2, 1] == W[2, 1]


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown strategy 'loudest'.*inhibitory_only"):
        ablation.removal_order(W, "loudest")

    def never_scored(mask):
        raise AssertionError("scored before the strategies were checked")

    with pytest.raises(ValueError, match="unknown strategy 'loudest'"):
        ablation.ablation_curves(W, never_scored, [0.0, 1.0], ["random", "loudest"])
    with pytest.raises(ValueError, match="fraction"):
        ablation.ablation_mask(W, "random", 1.5)
    with pytest.raises(ValueError, match="square"):
        ablation.removal_order(np.zeros((2, 3)), "random")
    with pytest.raises(ValueError, match="NaN"):
        ablation.removal_order(np.full((2, 2), np.nan), "random")


def test_curves_score_every_strategy_and_repeat():
    def kept_strength(mask):
        return float(np.abs(W * mask).sum() / np.abs(W).sum())

    curves = ablation.ablation_curves(
        W, kept_strength, fractions=[0.0, 0.4, 1.0], random_repeats=3, seed=0
    )
    assert len(curves) == 3 * 3 + 3 * 3  # random: 3 repeats; three deterministic strategies
    at_zero = curves[curves["fraction"] == 0]
    assert np.allclose(at_zero["pvar_ratio"], 1.0)
    strongest = curves[(curves["strategy"] == "strongest") & (curves["fraction"] == 0.4)]
    assert strongest["pvar"].item() == pytest.approx(1 - (5 + 0.8) / 7.6)
    assert strongest["n_removed"].item() == 2
    assert np.allclose(curves.loc[curves["fraction"] == 1, "pvar"], 0.0)
    assert "gain_retained" not in curves


def test_gain_retained_is_measured_from_the_baseline():
    def kept_strength(mask):  # intact 1.0; removing the 5.0 connection leaves 2.6 / 7.6
        return float(np.abs(W * mask).sum() / np.abs(W).sum())

    curves = ablation.ablation_curves(
        W, kept_strength, fractions=[0.0, 0.2, 1.0], strategies=["strongest"], baseline_pvar=0.2
    ).set_index("fraction")
    assert curves.loc[0.0, "gain_retained"] == pytest.approx(1.0)
    assert curves.loc[0.2, "gain_retained"] == pytest.approx((2.6 / 7.6 - 0.2) / 0.8)
    assert curves.loc[1.0, "gain_retained"] == pytest.approx(-0.25)  # below the baseline
    area = ablation.curve_areas(curves.reset_index().assign(repeat=0))["auc_gain_retained"]
    # floored at 0: (1 + g) / 2 * 0.2 + (g + 0) / 2 * 0.8 with g = (2.6 / 7.6 - 0.2) / 0.8
    g = (2.6 / 7.6 - 0.2) / 0.8
    assert area.item() == pytest.approx((1 + g) / 2 * 0.2 + g / 2 * 0.8)


def test_area_under_curve():
    assert ablation.area_under_curve([0, 0.5, 1], [1, 1, 1]) == pytest.approx(1.0)
    assert ablation.area_under_curve([1, 0, 0.5], [0, 1, 0.5]) == pytest.approx(0.5)
    assert ablation.area_under_curve([0, 0.5], [1, 0]) == pytest.approx(0.5)


def test_curve_areas_floor_diverging_rollouts_at_zero():
    # random: two repeats; repeat 1 diverges to pVar ratio -9 at fraction 1 (a blown-up rollout)
    curves = pd.DataFrame(
        {
            "strategy": ["random"] * 4 + ["hubs"] * 2,
            "fraction": [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
            "repeat": [0, 0, 1, 1, 0, 0],
            "pvar_ratio": [1.0, 0.5, 1.0, -9.0, 1.0, 0.2],
        }
    )
    areas = ablation.curve_areas(curves).set_index("strategy")
    # floored: mean curve (1, (0.5 + 0) / 2) -> (1 + 0.25) / 2; unfloored: (1 + (-4.25)) / 2
    assert areas.loc["random", "auc"] == pytest.approx(0.625)
    assert areas.loc["random", "auc_unfloored"] == pytest.approx(-1.625)
    assert areas.loc["random", "auc_sd_repeats"] == pytest.approx(np.std([0.75, 0.5], ddof=1))
    assert areas.loc["hubs", "auc"] == areas.loc["hubs", "auc_unfloored"] == pytest.approx(0.6)


# ---------------------------------------------------------------- statistics
def t_two_sided_p(t, df):
    """2 · P(T_df > |t|) by integrating Student's t density (its formula, not scipy.stats)."""
    from scipy.integrate import quad

    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def density(x):
        return math.exp(log_norm - (df + 1) / 2 * math.log1p(x * x / df))

    return 2 * quad(density, abs(t), np.inf)[0]


def test_welch_and_cohens_d_against_hand_values():
    a, b = [1.0, 2.0, 3.0, 5.0], [2.0, 4.0, 6.0, 9.0, 10.0]
    mean_a, mean_b = 11 / 4, 31 / 5
    var_a = ((1 - mean_a) ** 2 + (2 - mean_a) ** 2 + (3 - mean_a) ** 2 + (5 - mean_a) ** 2) / 3
    var_b = sum((x - mean_b) ** 2 for x in b) / 4
    se2 = var_a / 4 + var_b / 5
    t = (mean_a - mean_b) / math.sqrt(se2)
    df = se2**2 / ((var_a / 4) ** 2 / 3 + (var_b / 5) ** 2 / 4)
    result = welch_test(a, b)
    assert (result["n_a"], result["n_b"]) == (4, 5)
    assert result["difference"] == pytest.approx(mean_a - mean_b)
    assert result["t"] == pytest.approx(t)
    assert result["df"] == pytest.approx(df)
    assert result["p"] == pytest.approx(t_two_sided_p(t, df), rel=1e-6)
    assert result["cohens_d"] == pytest.approx((mean_a - mean_b) / math.sqrt((var_a + var_b) / 2))
    assert result["d_ci_low"] <= result["cohens_d"] <= result["d_ci_high"]


def test_fewer_than_three_values_give_means_only():
    result = welch_test([1.0, 2.0], [4.0, 5.0, 6.0])
    assert result["mean_a"] == 1.5 and result["difference"] == pytest.approx(-3.5)
    for key in ("t", "df", "p", "cohens_d", "d_ci_low", "d_ci_high"):
        assert np.isnan(result[key]), key


def test_holm_adjustment_against_a_hand_example():
    from neurocircuit.statistics import holm_adjust

    # m = 4 tests: sorted 0.005, 0.01, 0.03, 0.04 -> 4·0.005, 3·0.01, 2·0.03, 1·0.04
    # = 0.02, 0.03, 0.06, 0.04; the running maximum lifts the last to 0.06. NaN: not tested.
    adjusted = holm_adjust([0.01, 0.04, 0.03, 0.005, np.nan])
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adjusted[4])
    assert holm_adjust([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # 2 · 0.6 capped at 1
    assert np.isnan(holm_adjust([np.nan])).all()


def test_bootstrap_interval_is_seeded_and_contains_d():
    from neurocircuit.statistics import bootstrap_d_interval, cohens_d

    a, b = [0.9, 0.85, 0.95, 0.8], [0.6, 0.5, 0.65, 0.7]
    low, high = bootstrap_d_interval(a, b, n_resamples=2000, seed=4)
    assert low < cohens_d(a, b) < high
    assert (low, high) == bootstrap_d_interval(a, b, n_resamples=2000, seed=4)
    assert (low, high) != bootstrap_d_interval(a, b, n_resamples=2000, seed=5)


# ---------------------------------------------------------------- summary
def curve(level, gain=None, share=0.5):
    """A two-point curve whose auc is (1 + level) / 2 (and auc_gain_retained (1 + gain) / 2)."""
    table = pd.DataFrame(
        {
            "strategy": ["weakest", "weakest", "random", "random"],
            "fraction": [0.0, 1.0, 0.0, 1.0],
            "repeat": [0, 0, 0, 0],
            "n_removed": [0, 4, 0, 4],
            "inhibitory_share": [np.nan, share, np.nan, share],
            "pvar": [0.9, 0.9 * level, 0.9, 0.9 * level],
            "pvar_ratio": [1.0, level, 1.0, level],
        }
    )
    if gain is not None:
        table["gain_retained"] = [1.0, gain, 1.0, gain]
    return table


FACTOR_LEVELS = {"dynamics": ("spiking", "rate"), "dale": ("dale", "nodale"),
                 "method": ("bptt", "eprop")}  # fmt: skip


def factorial_runs(n_seeds):
    """2 x 2 x 2 models x ``n_seeds`` seeds (plus a teacher); the level of each curve adds 0.1
    for Dale, 0.05 for rate, 0.02 for BPTT and 0.01 · seed, so every difference is known."""
    import itertools

    runs = [{"curves": curve(0.3), "dataset": "toy", "model": "teacher", "seed": 0}]
    for dynamics, dale, method in itertools.product(*FACTOR_LEVELS.values()):
        for seed in range(n_seeds):
            level = 0.2 + 0.1 * (dale == "dale") + 0.05 * (dynamics == "rate")
            level += 0.02 * (method == "bptt") + 0.01 * seed
            runs.append(
                {
                    "curves": curve(level, gain=level - 0.1),
                    "dataset": "toy",
                    "model": f"{dynamics}_{dale}_{method}",
                    "seed": seed,
                    "dynamics": "ignored",  # the labels come from the model name
                }
            )
    return runs


def test_comparisons_change_exactly_one_factor():
    from neurocircuit.models.names import parse_model_name
    from neurocircuit.statistics import holm_adjust

    summary = ablation.summarise_ablations(factorial_runs(3), n_resamples=200)
    areas = summary[summary["section"] == "auc"]
    assert len(areas) == (8 * 3 + 1) * 2
    teacher = areas[areas["model"] == "teacher"]
    assert teacher["dynamics"].isna().all() and len(teacher) == 2
    assert areas["inhibitory_share"].dropna().tolist() == pytest.approx([0.5] * 50)
    tests = summary[summary["section"] == "welch"]
    # 2 strategies x 2 metrics x 3 factors x 4 combinations of the other two
    assert len(tests) == 2 * 2 * 3 * 4
    assert set(tests["metric"]) == {"auc", "auc_gain_retained"}
    effect = {"dale": 0.1, "dynamics": -0.05, "method": 0.02}
    for row in tests.itertuples():
        assert "teacher" not in (row.model_a, row.model_b)
        spec_a, spec_b = parse_model_name(row.model_a), parse_model_name(row.model_b)
        a = {"dynamics": spec_a.dynamics, "dale": spec_a.dale, "method": spec_a.method}
        b = {"dynamics": spec_b.dynamics, "dale": spec_b.dale, "method": spec_b.method}
        assert [f for f in a if a[f] != b[f]] == [row.factor]
        assert (row.group_a, row.group_b) == FACTOR_LEVELS[row.factor]
        assert row.model_a.split("_")[list(FACTOR_LEVELS).index(row.factor)] == row.group_a
        for name_value in row.fixed.split(", "):
            name, value = name_value.split("=")
            assert name != row.factor
            assert value in row.model_a.split("_") and value in row.model_b.split("_")
        assert (row.n_a, row.n_b) == (3, 3)
        assert row.difference == pytest.approx(effect[row.factor] / 2)  # area = (1 + level) / 2
    # the seeds' spread is the same in both groups: t and d follow from the known difference
    sd = np.std([0.0, 0.005, 0.01], ddof=1)
    dale = tests[(tests["factor"] == "dale")].iloc[0]
    assert dale["cohens_d"] == pytest.approx(0.05 / sd)
    assert dale["t"] == pytest.approx(0.05 / math.sqrt(2 * sd**2 / 3))
    assert dale["df"] == pytest.approx(4.0)
    # one Holm family: every test of the table
    assert tests["p_holm"].to_numpy() == pytest.approx(holm_adjust(tests["p"]))
    assert (tests["p_holm"] >= tests["p"]).all()


def test_two_seeds_give_means_but_no_test():
    summary = ablation.summarise_ablations(factorial_runs(2), n_resamples=50)
    tests = summary[summary["section"] == "welch"]
    assert len(tests) == 48 and (tests["n_a"] == 2).all()
    assert tests["difference"].notna().all()
    for column in ("t", "df", "p", "p_holm", "cohens_d", "d_ci_low", "d_ci_high"):
        assert tests[column].isna().all(), column


def test_learnable_sign_is_its_own_level_and_pooled_models_are_not_compared():
    runs = [
        {"curves": curve(0.2 + 0.1 * i + 0.01 * seed), "dataset": "toy", "model": model,
         "seed": seed}
        for i, model in enumerate(["rate_dale_bptt", "rate_dalesign_bptt", "rate_nodale_bptt",
                                   "spiking_nodale_eprop"])
        for seed in range(3)
    ]  # fmt: skip
    tests = ablation.summarise_ablations(runs, n_resamples=50)
    tests = tests[tests["section"] == "welch"]
    assert set(tests["metric"]) == {"auc"}  # no baseline in these curves: no gain_retained
    pairs = set(zip(tests["model_a"], tests["model_b"], strict=True))
    assert pairs == {
        ("rate_dale_bptt", "rate_nodale_bptt"),
        ("rate_dalesign_bptt", "rate_nodale_bptt"),
        ("rate_dale_bptt", "rate_dalesign_bptt"),
    }  # spiking_nodale_eprop differs from each in two factors: compared with none
    assert set(tests["fixed"]) == {"dynamics=rate, method=bptt"}
    assert (tests["n_a"] == 3).all() and tests["p"].notna().all()


def test_every_pair_of_levels_present_is_compared():
    models = ["rate_nodale_bptt", "rate_nodale_tbptt", "rate_nodale_eprop"]
    runs = [
        {"curves": curve(0.3 + 0.1 * i + 0.01 * seed), "dataset": "toy", "model": model,
         "seed": seed}
        for i, model in enumerate(models)
        for seed in range(3)
    ]  # fmt: skip
    tests = ablation.summarise_ablations(runs, n_resamples=50)
    tests = tests[(tests["section"] == "welch") & (tests["strategy"] == "weakest")]
    assert list(tests["comparison"]) == ["bptt vs tbptt", "bptt vs eprop", "tbptt vs eprop"]
    assert set(tests["fixed"]) == {"dynamics=rate, dale=nodale"}
    assert tests.set_index("comparison").loc["bptt vs eprop", "difference"] == pytest.approx(-0.1)


def test_summary_rejects_an_unknown_model_name():
    runs = [{"curves": curve(0.5), "dataset": "toy", "model": "rate_dale_sgd", "seed": 0}]
    with pytest.raises(ValueError, match="ablation summary: model name 'rate_dale_sgd'"):
        ablation.summarise_ablations(runs)
    with pytest.raises(ValueError, match="no ablation runs"):
        ablation.summarise_ablations([])


def test_summary_file_is_written(tmp_path):
    paths, labels = [], []
    for model in ("rate_dale_bptt", "rate_nodale_bptt"):
        for seed in range(3):
            path = tmp_path / f"{model}_{seed}.csv"
            curve(0.5 + 0.1 * (model == "rate_dale_bptt") + 0.01 * seed).to_csv(path, index=False)
            paths.append(path)
            labels.append({"dataset": "toy", "model": model, "seed": seed})
    summary = ablation.summarise_ablation_files(paths, labels, tmp_path / "summary.csv")
    again = pd.read_csv(tmp_path / "summary.csv")
    assert list(again.columns) == list(summary.columns)
    assert set(again["section"]) == {"auc", "welch"}
    assert not list(tmp_path.glob("*.part*"))


# ---------------------------------------------------------------- fitted networks
def fitted_files(tmp_path, model, n_frames=30):
    """``model.pt`` and a ``prediction.h5`` whose target (neurons × time) is a smooth recording."""
    import h5py
    from neurocircuit.models.fitted import save_fitted_model

    rng = np.random.default_rng(0)
    time = np.arange(n_frames)[:, None]
    target = 0.5 + 0.3 * np.sin(2 * np.pi * time / 12 + rng.uniform(0, 6, model.n_units))
    save_fitted_model(model, tmp_path / "model.pt", {})
    with h5py.File(tmp_path / "prediction.h5", "w") as h5:
        h5["target"] = target.T.astype(np.float32)
    return tmp_path / "model.pt", tmp_path / "prediction.h5", target


def ablate(tmp_path, model, strategies, fractions):
    model_path, prediction_path, target = fitted_files(tmp_path, model)
    settings = {"fractions": fractions, "strategies": strategies, "random_repeats": 2, "seed": 0}
    curves = ablation.ablate_fitted_model(
        model_path, prediction_path, tmp_path / "curves.csv", settings
    )
    return curves.set_index(["strategy", "fraction", "repeat"]), target


def masked_score(model, target, mask):
    return ablation.rollout_score_function(model, target.astype(np.float32))(mask)


def test_full_readout_is_ranked_and_ablated_on_its_effective_connectivity(tmp_path):
    import torch
    from neurocircuit.models import SpikingActivityNetwork

    model = SpikingActivityNetwork(
        6, dale=True, readout="full", self_connections=False, weight_scale=3.0, seed=0
    )
    with torch.no_grad():  # off-diagonal readout weights, as NeuroTorch's training leaves them
        model.readout_weight += 0.5 * torch.randn(6, 6, generator=torch.Generator().manual_seed(1))
    effective = model.effective_connectivity().numpy()
    recurrent = model.recurrent_weight().numpy()
    n_effective = int((effective != 0).sum())
    assert n_effective == 36 > int((recurrent != 0).sum()) == 30  # W_out couples i to itself
    curves, target = ablate(tmp_path, model, ["strongest"], [0.0, 0.5, 1.0])
    assert curves.loc[("strongest", 1.0, 0), "n_removed"] == n_effective
    # "strongest" ranks the effective matrix; ranking W alone would remove other pairs
    mask = ablation.ablation_mask(effective, "strongest", 0.5)
    assert not np.array_equal(mask, ablation.ablation_mask(recurrent, "strongest", 0.5))
    assert curves.loc[("strongest", 0.5, 0), "pvar"] == pytest.approx(
        masked_score(model, target, mask), abs=1e-6
    )
    # everything removed: no W, and W_out keeps only its diagonal (each unit's own readout)
    alone = SpikingActivityNetwork(
        6, dale=True, readout="full", self_connections=False, weight_scale=3.0, seed=0
    )
    alone.load_state_dict(model.state_dict())
    with torch.no_grad():
        alone.weight = torch.zeros(6, 6)
        alone.readout_weight.copy_(torch.diag(torch.diagonal(model.readout_weight)))
    assert curves.loc[("strongest", 1.0, 0), "pvar"] == pytest.approx(
        masked_score(alone, target, np.ones((6, 6))), abs=1e-6
    )


def test_rate_network_ablation_is_ranked_on_w_as_before(tmp_path):
    from neurocircuit.models import RateActivityNetwork

    model = RateActivityNetwork(6, dale=True, weight_scale=3.0, seed=2)
    recurrent = model.recurrent_weight().numpy()
    curves, target = ablate(tmp_path, model, list(ablation.STRATEGIES), [0.0, 0.5, 1.0])
    expected = ablation.ablation_curves(
        recurrent,
        ablation.rollout_score_function(model, target.astype(np.float32)),
        fractions=[0.0, 0.5, 1.0],
        random_repeats=2,
        seed=0,
    ).set_index(["strategy", "fraction", "repeat"])
    pd.testing.assert_series_equal(curves["pvar"], expected["pvar"], rtol=0, atol=0)
    assert curves["n_removed"].max() == 36


def test_a_network_with_nothing_to_lose_gets_nan_not_a_ratio():
    weight = np.random.default_rng(0).normal(size=(6, 6))
    curves = ablation.ablation_curves(
        weight, lambda mask: -0.5 + 0.01 * mask.sum(), [0.0, 0.5, 1.0], ["random"], 2, 0,
        baseline_pvar=0.1,
    )  # fmt: skip
    assert curves["pvar_ratio"].isna().all() and curves["gain_retained"].isna().all()
    above_zero = ablation.ablation_curves(
        weight, lambda mask: 0.05 + 0.001 * mask.sum(), [0.0, 1.0], ["weakest"], 1, 0,
        baseline_pvar=0.1,
    )  # fmt: skip
    assert above_zero["pvar_ratio"].notna().all() and above_zero["gain_retained"].isna().all()
    test = welch_test([0.5, 0.6, np.nan, 0.55], [0.1, 0.2, 0.15])
    assert test["n_a"] == 3 and np.isfinite(test["t"])
    too_few = welch_test([0.5, 0.6, np.nan], [0.1, 0.2, 0.15])  # 2 values left: no test
    assert too_few["n_a"] == 2 and np.isnan(too_few["t"]) and np.isfinite(too_few["difference"])
