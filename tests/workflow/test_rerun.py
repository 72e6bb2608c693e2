"""What a change to the config reruns: only the jobs it concerns.

The whole test config runs once; then dry runs with one change each (a seed, a model, a data
set, one model's setting) must schedule the new or changed jobs and the summaries and figures
that read them, and never an existing run of another seed, model or data set. Each job's params
hold only its own resolved settings (neurocircuit/workflow/), which is what this checks:
Snakemake reruns a job whose params changed.
"""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import TEST_CONFIG, run_snakemake

pytestmark = pytest.mark.slow

# Jobs that read every run (summaries, figures over runs) and may rerun when runs are added.
AGGREGATES = {
    "all",
    "classification_summarize",
    "fit_convergence",
    "fit_forecast_summary",
    "ablation_summary",
    "plot_classification_accuracy",
    "plot_classification_learning_curves",
    "plot_pvar_per_neuron",
    "plot_connectivity",
    "plot_convergence",
    "plot_forecast",
    "plot_ablation_curves",
    "plot_ablation_areas",
}


def planned_jobs(workflow_dir, *configs) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run of the whole workflow would run."""
    args = ["-n", "--cores", "2", "--configfile", TEST_CONFIG, *map(str, configs)]
    result = run_snakemake(workflow_dir, *args, check=True)
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", result.stdout):
        match = re.match(r"(?:local)?rule (\w+):", block.strip())
        if not match:
            continue
        found = re.search(r"^\s*wildcards: (.*)$", block, flags=re.MULTILINE)
        wildcards = dict(
            item.split("=", 1) for item in (found.group(1).split(", ") if found else [])
        )
        jobs.append((match.group(1), wildcards))
    return jobs


def per_run_jobs(jobs):
    """The planned jobs of single runs (not summaries or figures over runs)."""
    return [(rule, wc) for rule, wc in jobs if rule not in AGGREGATES]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, workflow_snapshot):
    """The test config, run to the end once."""
    from conftest import copy_workflow

    workdir = copy_workflow(tmp_path_factory.mktemp("rerun") / "workflow", workflow_snapshot)
    run_snakemake(workdir, "--cores", "2", "--configfile", TEST_CONFIG, timeout=900, check=True)
    config = yaml.safe_load((workdir / TEST_CONFIG).read_text())
    return workdir, config


def overlay(workdir, name, data) -> str:
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path.name


def test_nothing_to_do_after_a_run_and_figures_alone(finished):
    workdir, _ = finished
    assert planned_jobs(workdir) == []
    again = run_snakemake(workdir, "figures", "-n", "--configfile", TEST_CONFIG, check=True)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_adding_a_seed_runs_only_that_seed(finished):
    workdir, config = finished
    change = {
        "fit": {"seeds": [0, 1]},
        "classification": {"seeds": [0, 1]},
    }
    jobs = per_run_jobs(planned_jobs(workdir, overlay(workdir, "seed1", change)))
    assert jobs, "a new seed must schedule its runs"
    assert all(wc.get("seed") == "1" for _, wc in jobs), jobs
    rules = [rule for rule, _ in jobs]
    assert rules.count("fit_activity") == 2 * len(config["fit"]["models"])  # in sample, held out
    assert rules.count("classification_train") == len(config["classification"]["models"])
    assert "imaging_activity" not in rules and "fit_check_activity" not in rules


def test_adding_a_model_runs_only_that_model(finished):
    workdir, config = finished
    new = "rate_nodale_bptt"
    assert new not in config["fit"]["models"]
    change = {"fit": {"models": [*config["fit"]["models"], new]}}
    jobs = per_run_jobs(planned_jobs(workdir, overlay(workdir, "model", change)))
    assert {wc.get("model") for _, wc in jobs} == {new}, jobs
    assert sorted(rule for rule, _ in jobs) == sorted(
        [
            "fit_activity",
            "fit_activity",
            "fit_forecast",
            "fit_metrics",
            "ablation_curves",
            "plot_fit_activity",
        ]  # fmt: skip
    )


def test_adding_a_dataset_runs_only_that_dataset(finished):
    workdir, config = finished
    sessions = config["imaging"]["sessions"]
    new = {"name": "second", "source": "synthetic", "seed": 2}
    change = {
        "imaging": {"sessions": [*sessions, new]},
        "fit": {"datasets": [*config["fit"]["datasets"], "second"]},
    }
    jobs = per_run_jobs(planned_jobs(workdir, overlay(workdir, "dataset", change)))
    assert jobs
    for rule, wc in jobs:
        assert wc.get("session", wc.get("dataset")) == "second", (rule, wc)


def test_changing_one_models_setting_reruns_only_that_model(finished):
    workdir, config = finished
    model = config["fit"]["models"][0]
    change = {"fit": {"model_settings": {model: {"training": {"lr": 0.005}}}}}
    jobs = per_run_jobs(planned_jobs(workdir, overlay(workdir, "setting", change)))
    assert {wc.get("model") for _, wc in jobs} == {model}, jobs
    splits = {wc["split"] for rule, wc in jobs if rule == "fit_activity"}
    assert splits == {"", "/heldout"}  # the in-sample and the held-out fit


def test_fits_on_the_teacher_session_are_scored_against_it(finished):
    """The test config's synthetic session is made by a teacher: every fit carries the
    ground-truth scores and the teacher is ablated beside the fitted networks."""
    import json

    import pandas as pd

    workdir, config = finished
    dataset = config["fit"]["datasets"][0]
    for model in config["fit"]["models"]:
        path = workdir / "results" / "fit" / dataset / model / "seed0" / "metrics.json"
        metrics = json.loads(path.read_text())
        for key in ("pvar_ceiling", "gain_fraction", "pvar_ceiling_heldout",
                    "gain_fraction_heldout", "weight_corr", "weight_corr_n", "sign_accuracy",
                    "dale_on_every_path", "iterations_to_half_gain"):  # fmt: skip
            assert key in metrics, (model, key)
        assert metrics["pvar_ceiling"] > metrics["baseline_pvar_mean"], model
        assert metrics["n_validation_frames"] >= 1
    summary = pd.read_csv(workdir / "results" / "ablation" / "summary.csv")
    teacher = summary[(summary["section"] == "auc") & (summary["model"] == "teacher")]
    assert set(teacher["strategy"]) == set(config["ablation"]["strategies"])
    comparisons = summary[summary["section"] == "welch"]
    assert comparisons.empty or "teacher" not in {*comparisons["model_a"], *comparisons["model_b"]}


def test_every_fit_and_the_teacher_forecast_the_same_heldout_windows(finished):
    """forecast.csv of every run and of the teacher, the forecast keys in metrics.json, and
    forecast_summary.csv: the baselines are the same in every table (same windows)."""
    import json

    import numpy as np
    import pandas as pd

    workdir, config = finished
    dataset = config["fit"]["datasets"][0]
    folder = workdir / "results" / "fit" / dataset
    tables = {model: pd.read_csv(folder / model / "seed0" / "forecast.csv")
              for model in config["fit"]["models"]}  # fmt: skip
    tables["teacher"] = pd.read_csv(folder / "teacher" / "forecast.csv")
    # 300 volumes: 60 held out, horizon 32 (config.yaml), a window at each of the 29 starts
    reference = tables["teacher"]
    assert list(reference["step"]) == list(range(1, 33)) and (reference["n_windows"] == 29).all()
    baselines = [c for c in reference.columns if c.endswith(("_context_mean", "_last_frame",
                                                              "_start_state", "_linear",
                                                              "_ar1"))]  # fmt: skip
    baselines.remove("mae_diff_vs_linear")  # the forecaster's own difference, not a baseline's
    for model, table in tables.items():
        assert np.allclose(table[baselines], reference[baselines], equal_nan=True), model
        assert table["mae"].between(0, 1).all() and table["pvar"].le(1).all(), model
    last = reference["mae_last_frame"].to_numpy()
    assert last[0] < 0.5 * last[-1]  # persistence is good one step ahead, not 32 steps ahead
    assert reference["mae"].mean() < reference["mae_context_mean"].mean()  # the ceiling
    for model in config["fit"]["models"]:
        metrics = json.loads((folder / model / "seed0" / "metrics.json").read_text())
        assert metrics["forecast_mae"] == pytest.approx(tables[model]["mae"].mean())
        assert metrics["forecast_horizon"] == 32 and metrics["forecast_stride"] == 1
        assert np.isfinite(metrics["forecast_pvar_linear"])
    summary = pd.read_csv(workdir / "results" / "fit" / "forecast_summary.csv")
    assert set(summary["forecaster"]) == {*config["fit"]["models"], "teacher", "context_mean",
                                          "last_frame", "start_state", "linear",
                                          "ar1"}  # fmt: skip
    assert (summary.loc[summary["kind"] == "baseline", "forecast_mae_sd"] == 0).all()


def test_every_job_saved_its_params_and_one_reruns_by_hand(finished):
    """Each script job leaves <log>.params.json beside its log; running the rule's script on it
    (from the workflow's folder) redoes the job: here fit_metrics, written to a new file."""
    import json
    import subprocess
    import sys

    workdir, config = finished
    logs = workdir / "results" / "logs"
    saved = sorted(logs.rglob("*.log.params.json"))
    assert {path.parent.relative_to(logs).parts[0] for path in saved} >= {
        "imaging_activity", "classification_train", "fit_activity", "fit_metrics",
        "ablation_curves", "plot_fit_activity",
    }  # fmt: skip
    for path in saved:
        assert path.with_name(path.name.removesuffix(".params.json")).is_file(), path
    run = f"{config['fit']['datasets'][0]}/{config['fit']['models'][0]}/seed0"
    job = json.loads((logs / "fit_metrics" / f"{run}.log.params.json").read_text())
    assert job["rule"] == "fit_metrics" and job["wildcards"]["seed"] == "0"
    original = workdir / job["output"]["named"]["metrics"]
    job["output"] = {"files": ["again.json"], "named": {"metrics": "again.json"}}
    job["log"] = {"files": ["again.log"], "named": {}}
    (workdir / "again.params.json").write_text(json.dumps(job))
    script = workdir / "workflow" / "scripts" / "fit_metrics.py"
    result = subprocess.run([sys.executable, str(script), "again.params.json"], cwd=workdir,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((workdir / "again.json").read_text()) == json.loads(original.read_text())
