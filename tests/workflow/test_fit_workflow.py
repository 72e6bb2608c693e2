"""The fit and ablation stages run end to end through Snakemake on a cropped zebrafish
recording (20 neurons x 100 frames, five networks, a few iterations each)."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TEST_CONFIG, leftover_temporaries, run_snakemake

ZEBRAFISH_FILE = "zebrafish/Stimulus_data_2022_02_23_fish3_1.npy"
# Every dynamics x rule once, both Dale options, and FORCE; two pairs differ in the dynamics
# alone, one in the method alone (the ablation summary compares only models that differ in one
# factor).
MODELS = ["rate_dale_bptt", "rate_nodale_eprop", "spiking_dale_bptt", "spiking_nodale_eprop",
          "rate_nodale_force"]  # fmt: skip


@pytest.mark.slow
def test_fit_and_ablation_on_cropped_zebrafish(workflow_dir, shared_data):
    if not (shared_data / ZEBRAFISH_FILE).is_file():
        pytest.skip(f"{shared_data / ZEBRAFISH_FILE} is absent")
    overrides = {
        "data_dir": str(shared_data),
        "fit": {
            "datasets": ["zebrafish"],
            "models": MODELS,
            "seeds": [0],
            "defaults": {
                "max_neurons": 20,
                "max_frames": 100,
                "preprocessing": {"normalisation": "per_neuron", "smoothing_sigma_frames": 3},
                "training": {"epochs": 8, "lr": 0.02, "eval_every": 4},
            },
        },
        "ablation": {"fractions": [0.0, 0.5, 1.0], "random_repeats": 2},
    }
    (workflow_dir / "fit_test.yaml").write_text(yaml.safe_dump(overrides))
    result = run_snakemake(
        workflow_dir,
        "results/fit/convergence.csv",
        "results/ablation/summary.csv",
        "--cores",
        "2",
        "--configfile",
        TEST_CONFIG,
        "fit_test.yaml",
        timeout=600,
        check=True,
    )
    assert "fit_download_zebrafish" not in result.stdout  # data_dir's copy is used
    results = workflow_dir / "results"
    for model in MODELS:
        run = results / "fit" / "zebrafish" / model / "seed0"
        with open(run / "metrics.json") as fh:
            metrics = json.load(fh)
        assert metrics["n_neurons"] == 20 and metrics["n_frames"] == 100
        assert metrics["normalisation"] == "per_neuron"
        assert metrics["n_heldout_frames"] == 20
        for key in ("pvar", "baseline_pvar_mean", "baseline_pvar_ar1", "pvar_heldout"):
            assert np.isfinite(metrics[key]), key
        for name in ("model.pt", "prediction.h5", "history.csv", "pvar_per_neuron.csv"):
            assert (run / name).is_file(), name
        # 20 held-out frames: one forecast window, its horizon capped at 20 steps
        forecast = pd.read_csv(run / "forecast.csv")
        assert list(forecast["step"]) == list(range(1, 21)) and (forecast["n_windows"] == 1).all()
        assert metrics["forecast_horizon"] == 20 and metrics["forecast_context"] == 80
        for key in ("forecast_mae", "forecast_mae_last_frame", "forecast_mae_linear"):
            assert 0 < metrics[key] < 1, key
        curves = pd.read_csv(results / "ablation" / "zebrafish" / model / "seed0.csv")
        strategies = {"random", "strongest", "strongest_global", "inhibitory_only"}
        assert set(curves["strategy"]) == strategies  # tests/config.test.yaml
        assert np.allclose(curves.loc[curves["fraction"] == 0, "pvar_ratio"], 1.0)
        removing = curves[curves["fraction"] > 0]
        assert removing["inhibitory_share"].between(0, 1).all()
        inhibitory_only = removing[removing["strategy"] == "inhibitory_only"]
        assert (inhibitory_only["inhibitory_share"] == 1).all()
    force_run = results / "fit" / "zebrafish" / "rate_nodale_force" / "seed0"
    force = pd.read_csv(force_run / "history.csv")  # one row per pass: force.passes = 3
    assert list(force["iteration"]) == list(range(len(force))) and 1 <= len(force) <= 3
    assert force["val_pvar"].notna().all()  # scored after every pass (config.yaml)
    convergence = pd.read_csv(results / "fit" / "convergence.csv")
    assert sorted(convergence["model"]) == sorted(MODELS)
    assert set(convergence.loc[convergence["model"] == "rate_nodale_force", "method"]) == {"force"}
    summary = pd.read_csv(results / "ablation" / "summary.csv")
    assert len(summary[summary["section"] == "auc"]) == 4 * len(MODELS)
    tests = summary[summary["section"] == "welch"]
    pairs = set(zip(tests["model_a"], tests["model_b"], strict=True))
    assert pairs == {
        ("spiking_dale_bptt", "rate_dale_bptt"),
        ("spiking_nodale_eprop", "rate_nodale_eprop"),
        ("rate_nodale_eprop", "rate_nodale_force"),
    }
    assert set(tests["comparison"]) == {"spiking vs rate", "eprop vs force"}
    assert len(tests) == 3 * 4 * 2  # pairs x strategies x metrics (auc, auc_gain_retained)
    assert (tests["n_a"] <= 1).all() and tests["p"].isna().all()  # one seed: no test
    assert not leftover_temporaries(results)
