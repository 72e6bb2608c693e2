"""The workflow's targets and runs (neurocircuit.workflow.targets), from the shipped configs:
plain functions of the config, which build no DAG and open no data file."""

import pytest
from neurocircuit.workflow import targets

from tests.helpers.workflow_config import shipped_config

DEMO_MODELS = 13  # config/demo.yaml's fit.models: every model of config.yaml


@pytest.fixture(scope="module")
def demo():
    return shipped_config("config/demo.yaml")


def test_expand_is_snakemakes_product_first_keyword_slowest():
    assert targets.expand("{a}-{b}", a=[1, 2], b=["x", "y"]) == ["1-x", "1-y", "2-x", "2-y"]
    assert targets.expand("{a}", a=[]) == []


def test_stage_runs_and_their_files(demo):
    runs = targets.stage_runs(demo, "fit")
    assert len(runs) == DEMO_MODELS and {r["dataset"] for r in runs} == {"synthetic"}
    assert runs[0] == {"dataset": "synthetic", "model": demo["fit"]["models"][0], "seed": 0}
    assert targets.stage_runs(demo, "fit", seed=1) == []
    assert targets.run_files(demo, "classification", "metrics.json") == [
        f"results/classification/digits/{model}/seed0/metrics.json"
        for model in ("lif", "lif_rec", "lif_dale")
    ]
    assert targets.run_file("x.h5", "d", "m", 3) == "results/fit/d/m/seed3/x.h5"


def test_the_teacher_is_ablated_and_forecast_beside_the_fits(demo):
    assert targets.teacher_runs(demo) == [{"dataset": "synthetic", "model": "teacher", "seed": 0}]
    tables = targets.ablation_tables(demo)
    assert len(tables) == DEMO_MODELS + 1
    assert tables[-1] == "results/ablation/synthetic/teacher/seed0.csv"
    forecasts = targets.forecast_tables(demo)
    assert forecasts[-1] == "results/fit/synthetic/teacher/forecast.csv"
    assert targets.forecast_tables(demo, dataset="other") == []


def test_only_synthetic_sessions_have_a_teacher():
    config = shipped_config("config/demo.yaml", fit={"datasets": ["zebrafish", "synthetic"]})
    assert targets.teacher_runs(config) == [{"dataset": "synthetic", "model": "teacher", "seed": 0}]
    assert targets.teacher_runs(config, dataset="zebrafish") == []


def test_no_teacher_without_a_teacher_population():
    config = shipped_config("config/demo.yaml", imaging={"synthetic": {"population": "ensembles"}})
    assert targets.teacher_runs(config) == []
    assert len(targets.ablation_tables(config)) == DEMO_MODELS


def test_demo_targets_are_every_final_output(demo):
    every = targets.all_targets(demo)
    # 77 of the stages, 31 of the demo's resilience: (4 models x 3 seeds + the teacher) x
    # (curves, areas), the summary, 2 measures x (png, pdf)
    assert len(every) == len(set(every)) == 77 + 31
    assert every[:4] == [
        f"results/imaging/synthetic/{name}"
        for name in ("activity.h5", "activity.nwb", "metrics.json", "qc.png")
    ]
    assert "results/classification/summary.csv" in every
    assert "results/ablation/summary.csv" in every
    assert sum(path.startswith("results/figures/") for path in every) == 42 + 4
    assert "results/resilience/synthetic/rate_dale_eprop/seed2_areas.csv" in every
    assert every[-1] == "results/figures/resilience/synthetic/controlled.pdf"


def test_a_stage_without_runs_has_no_targets_and_ablation_can_be_off(demo):
    config = shipped_config(
        "config/demo.yaml", classification={"datasets": []}, ablation={"enabled": False}
    )
    assert targets.classification_targets(config) == []
    every = targets.all_targets(config)
    assert not any("classification" in path or "ablation" in path for path in every)
    no_fit = shipped_config("config/demo.yaml", fit={"models": []})
    assert targets.fit_targets(no_fit) == []
    assert not any(path.startswith("results/figures/fit") for path in targets.all_targets(no_fit))


def test_targets_never_open_a_recording(monkeypatch):
    """Targets come from the config alone: an NWB session's file is read by the input
    functions of its jobs, never while the workflow is parsed."""
    from neurocircuit.imaging import nwb_input

    def refuse(*args, **kwargs):
        raise AssertionError("an NWB file was opened")

    monkeypatch.setattr(nwb_input, "nwb_session_plan", refuse)
    config = shipped_config("tests/config.test.yaml")
    assert any(s["source"] == "nwb" for s in config["imaging"]["sessions"])
    assert targets.all_targets(config)
