"""Ablation orders and masks on tiny matrices, areas under curves, and the Welch summary."""

import numpy as np
import pandas as pd
import pytest
from neurocircuit import ablation

# W[i, j]: from presynaptic j to postsynaptic i. Connections (flat index: weight):
# 1: 0.5 (1->0), 3: 0.6 (0->1), 5: 5 (2->1), 6: 0.7 (0->2), 7: 0.8 (1->2).
# Strength (in + out): neuron 0 = 0.5 + 1.3, neuron 1 = 5.6 + 1.3, neuron 2 = 1.5 + 5.
W = np.array([[0.0, 0.5, 0.0], [0.6, 0.0, 5.0], [0.7, 0.8, 0.0]])


def removed(mask):
    return sorted(int(i) for i in np.flatnonzero(mask.ravel() == 0))


def test_deterministic_orders():
    assert list(ablation.removal_order(W, "weakest")) == [1, 3, 6, 7, 5]
    assert list(ablation.removal_order(W, "strongest")) == [5, 7, 6, 3, 1]
    # Hub 1 first (its connections 5, 7, 3, 1 by |W|), then hub 2 (only 6 is left).
    assert list(ablation.removal_order(W, "hubs")) == [5, 7, 3, 1, 6]


def test_exact_masks_at_sixty_percent():
    # 0.6 of 5 connections = 3 removed.
    expected = {"weakest": [1, 3, 6], "strongest": [5, 6, 7], "hubs": [3, 5, 7]}
    for strategy, flat in expected.items():
        mask = ablation.ablation_mask(W, strategy, 0.6)
        assert removed(mask) == flat, strategy
        assert set(np.unique(mask)) <= {0.0, 1.0}


def test_ties_break_by_index_and_signs_count_by_magnitude():
    w = np.array([[0.0, -2.0], [2.0, 0.0]])
    assert list(ablation.removal_order(w, "weakest")) == [1, 2]
    assert list(ablation.removal_order(w, "strongest")) == [1, 2]


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
    with pytest.raises(ValueError, match="unknown strategy 'loudest'"):
        ablation.removal_order(W, "loudest")
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


def test_welch_test_against_hand_values():
    from scipy import stats

    a, b = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]
    result = ablation.welch_test(a, b)
    sd_b = np.std(b, ddof=1)
    assert result["cohens_d"] == pytest.approx(-3.5 / np.sqrt((1.0 + sd_b**2) / 2))
    expected = stats.ttest_ind(a, b, equal_var=False)
    assert result["t"] == pytest.approx(expected.statistic)
    assert result["p"] == pytest.approx(expected.pvalue)
    assert np.isnan(ablation.welch_test([1.0], b)["p"])


def test_summary_has_areas_and_tests():
    def curve(level):
        return pd.DataFrame(
            {
                "strategy": ["weakest"] * 2,
                "fraction": [0.0, 1.0],
                "repeat": [0, 0],
                "pvar": [0.9, 0.9 * level],
                "pvar_ratio": [1.0, level],
            }
        )

    runs = []
    for seed, (dale_level, free_level) in enumerate([(0.8, 0.2), (0.7, 0.3), (0.9, 0.1)]):
        for dale, level in ((True, dale_level), (False, free_level)):
            runs.append(
                {
                    "curves": curve(level),
                    "dataset": "toy",
                    "model": f"rate_{'dale' if dale else 'nodale'}_bptt",
                    "seed": seed,
                    "dynamics": "rate",
                    "dale": dale,
                    "method": "bptt",
                }
            )
    summary = ablation.summarise_ablations(runs)
    areas = summary[summary["section"] == "auc"]
    assert len(areas) == 6
    assert areas.loc[areas["dale"] == True, "auc"].tolist() == pytest.approx([0.9, 0.85, 0.95])  # noqa: E712
    tests = summary[summary["section"] == "welch"].set_index("comparison")
    assert tests.loc["Dale vs no Dale", "mean_a"] == pytest.approx(0.9)
    assert tests.loc["Dale vs no Dale", "mean_b"] == pytest.approx(0.6)
    assert tests.loc["Dale vs no Dale", "cohens_d"] > 5
    assert tests.loc["Dale vs no Dale", "p"] < 0.01
    assert np.isnan(tests.loc["spiking vs rate", "p"])  # no spiking runs


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
    test = ablation.welch_test([0.5, 0.6, np.nan], [0.1, 0.2, 0.15])
    assert test["n_a"] == 2 and np.isfinite(test["t"])
