"""The resilience stage in the workflow: planned only when enabled (or asked for by its target),
its params hold what each job reads and refuse pooled contrasts before any job runs, and its
rule scripts run end to end on two tiny in-sample fits (curves, areas, summary, figure)."""

import json
import logging
import re
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from neurocircuit.config import ConfigError
from neurocircuit.fit import jobs
from neurocircuit.fit.settings import resolve_fit_settings
from neurocircuit.workflow import resilience, targets

from tests.helpers.workflow_config import shipped_config

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "workflow" / "scripts"
RESILIENCE_RULES = ("resilience_curves", "resilience_teacher", "resilience_summary",
                    "resilience_figure")  # fmt: skip


def planned_jobs(*args) -> dict:
    """{rule: number of jobs} of a dry run on the test config (plus ``args``)."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "-n", "--quiet", "rules"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", result.stdout, re.M)}


def test_dry_run_plans_resilience_only_when_enabled_or_asked(tmp_path):
    overlay = tmp_path / "on.yaml"
    overlay.write_text("resilience: {enabled: true}\n")
    test_config = ["--configfile", "tests/config.test.yaml"]
    default = planned_jobs(*test_config)
    assert default["fit_activity"] == 6 and not set(RESILIENCE_RULES) & set(default)
    enabled = planned_jobs(*test_config, str(overlay))
    # 3 models x 1 seed, the teacher of tiny, one summary, 2 measures x 1 data set
    assert [enabled.get(rule) for rule in RESILIENCE_RULES] == [3, 1, 1, 2]
    asked = planned_jobs("resilience", *test_config)
    assert [asked.get(rule) for rule in RESILIENCE_RULES] == [3, 1, 1, 2]
    # the in-sample fits only: no held-out fit, forecast, metrics or ablation
    assert asked["fit_activity"] == 3
    assert not {"fit_forecast", "fit_metrics", "ablation_curves", "all"} & set(asked)


def test_params_hold_what_each_job_reads_and_refuse_pooled_groups():
    config = shipped_config("tests/config.test.yaml", resilience={"levels": 5})
    assert resilience.curve_settings(config) == {
        "strategies": ["weakest_global", "random", "weakest"],
        "levels": [0.0, 0.25, 0.5, 0.75, 1.0],
        "repeats": 32,
        "seed": 0,
        "controls": ["none", "mean_drive"],
    }
    summary = resilience.summary_settings(config)
    assert sorted(summary) == ["filter_pvar", "measures", "primary_contrasts", "strategies"]
    assert summary["filter_pvar"] == 0.8 and len(summary["primary_contrasts"]) == 3
    # the primary family: the paper's two orders; the class-balanced one is exploratory
    assert summary["strategies"] == ["weakest_global", "random"]
    paper = SimpleNamespace(measure="paper")
    assert resilience.figure_measure(config, paper)["control"] == "none"
    assert targets.resilience_tables(config)[-1] == "results/resilience/tiny/teacher/seed0.csv"
    assert len(targets.resilience_targets(config)) == 4 * 2 + 1 + 4
    # rate_dale_bptt and rate_dale_eprop both match "Dale, rate" without a fixed method
    pooled = shipped_config(
        "tests/config.test.yaml",
        fit={"models": ["rate_dale_bptt", "rate_dale_eprop", "rate_nodale_eprop"]},
        resilience={"primary_contrasts": [
            {"name": "x", "factor": "dale", "a": "dale", "b": "nodale",
             "fixed": {"dynamics": "rate"}}]},
    )  # fmt: skip
    with pytest.raises(ConfigError, match="^resilience.primary_contrasts: x pools models "):
        resilience.summary_settings(pooled)
    unknown = shipped_config("tests/config.test.yaml", resilience={"primary_contrasts": [
        {"name": "x", "factor": "dale", "a": "dale", "b": "dail"}]})  # fmt: skip
    with pytest.raises(ConfigError, match="unknown level b='dail'"):
        resilience.summary_settings(unknown)
    outside = shipped_config("tests/config.test.yaml", resilience={
        "strategies": ["random"], "primary_strategies": ["weakest_global"]})  # fmt: skip
    with pytest.raises(ConfigError, match="primary_strategies: weakest_global is not in"):
        resilience.summary_settings(outside)


def test_resilience_models_and_seeds_choose_the_networks_ablated():
    fit_models = shipped_config("tests/config.test.yaml")["fit"]["models"]
    config = shipped_config(
        "tests/config.test.yaml", resilience={"models": fit_models[:1], "seeds": [0, 4]}
    )
    fits = [run for run in targets.resilience_runs(config) if run["model"] != "teacher"]
    assert [(r["model"], r["seed"]) for r in fits] == [(fit_models[0], 0), (fit_models[0], 4)]
    assert targets.resilience_tables(config)[1].endswith(f"{fit_models[0]}/seed4.csv")
    stray = shipped_config("tests/config.test.yaml", resilience={"models": ["rate_dale_force"]})
    with pytest.raises(ConfigError, match="^resilience.models: rate_dale_force is not one of"):
        resilience.summary_settings(stray)


class Files(list):
    """A stand-in for Snakemake's named lists: a list whose names are attributes."""

    def __init__(self, **named):
        super().__init__(named.values())
        self.__dict__.update(named)

    def items(self):
        return self.__dict__.items()


def run_script(rule: str, tmp_path: Path, wildcards=None, **fields) -> None:
    """Run workflow/scripts/<rule>.py as Snakemake would (a ``snakemake`` object)."""
    log = tmp_path / "logs" / f"{rule}.log"
    fields["wildcards"] = wildcards or Files(dataset="toy")
    job = SimpleNamespace(rule=rule, log=[str(log)], threads=1, **fields)
    try:
        runpy.run_path(str(SCRIPTS / f"{rule}.py"), init_globals={"snakemake": job})
    finally:
        for handler in logging.getLogger(rule).handlers:
            handler.close()


def tiny_fit(tmp_path: Path, model: str) -> dict:
    """An in-sample fit of ``model`` on 6 noisy oscillating neurons x 60 frames (outputs)."""
    activity = tmp_path / "activity.h5"
    if not activity.exists():
        t = np.arange(60)[None, :]
        dff = 0.5 + 0.3 * np.sin(2 * np.pi * t / 25.0 + np.linspace(0, np.pi, 6)[:, None])
        with h5py.File(activity, "w") as h5:
            h5["dff"] = dff + 0.05 * np.random.default_rng(0).normal(size=dff.shape)
            h5["time_s"] = np.arange(60) * 0.1
    fit = {
        "preprocessing": {"normalisation": "per_neuron", "smoothing_sigma_frames": 1.0},
        "heldout_fraction": 0.2, "validation_fraction": 0.125, "ar1_ridge": None,
        "max_neurons": None, "max_frames": None,
        "network": {"shared": {"exc_fraction": 0.5}},
        "training": {"epochs": 10, "lr": 0.02, "progress": False, "eval_every": 5,
                     "stop_pvar": None},
    }  # fmt: skip
    run_dir = tmp_path / "fit" / "toy" / model / "seed0"
    names = {"model": "model.pt", "prediction": "prediction.h5", "history": "history.csv",
             "per_neuron": "pvar_per_neuron.csv", "weights": "weights.npz",
             "scores": "scores.json"}  # fmt: skip
    outputs = {name: run_dir / file for name, file in names.items()}
    settings = resolve_fit_settings(
        {"defaults": fit, "zebrafish": {"frame_period_s": 0.9}}, "toy", model
    )
    run = {"dataset": "toy", "model": model, "seed": 0, "device": "cpu", "settings": settings}
    jobs.fit_job("in_sample", activity, outputs, run)
    return outputs


def _curves_and_areas(tmp_path, config, models) -> tuple[list, list, list]:
    """Each model's tiny fit, then its resilience_curves job: (curves, areas, intact pVars)."""
    curves, areas, intact = [], [], []
    for model in models:
        fit = tiny_fit(tmp_path, model)
        out = Files(curves=str(tmp_path / f"{model}.csv"), areas=str(tmp_path / f"{model}_a.csv"))
        labels = {"dataset": "toy", "model": model, "seed": 0}
        params = Files(labels=labels, resilience_settings=resilience.curve_settings(config))
        inputs = Files(model=str(fit["model"]), prediction=str(fit["prediction"]))
        run_script("resilience_curves", tmp_path, input=inputs, output=out, params=params)
        table = pd.read_csv(out.curves)
        start = table[(table["level"] == 0) & (table["control"] == "none")]
        # the intact network is the fit itself: its pVar is the fit's, and every repeat's
        assert start["pvar"].to_numpy() == pytest.approx(
            json.loads(fit["scores"].read_text())["pvar"], abs=1e-4
        )
        assert np.allclose(start["pvar_ratio"], 1.0)
        # controls x levels x (weakest_global + 2 random + class-balanced weakest)
        assert len(table) == 2 * 3 * (1 + 2 + 1)
        curves.append(out.curves)
        areas.append(out.areas)
        intact.append(float(start["pvar"].iloc[0]))
    return curves, areas, intact


@pytest.mark.usefixtures("one_thread_torch")
def test_rule_scripts_run_end_to_end_on_tiny_fits(tmp_path):
    models = ["rate_dalesign_bptt", "rate_nodale_bptt"]
    overlay = {"levels": 3, "random_repeats": 2, "filter_pvar": None}
    config = shipped_config("tests/config.test.yaml", fit={"models": models},
                            resilience=overlay)  # fmt: skip
    curves, areas, intact = _curves_and_areas(tmp_path, config, models)
    weakest = pd.read_csv(areas[0])
    assert set(weakest["score"]) == {"ratio", "per_neuron"} and len(weakest) == 3 * 2 * 2

    # the filter halfway between the two intact pVars drops exactly the weaker network
    config["resilience"]["filter_pvar"] = float(np.mean(intact))
    settings = resilience.summary_settings(config)
    summary_csv = tmp_path / "summary.csv"
    run_script("resilience_summary", tmp_path, input=Files(curves=curves, areas=areas),
               output=Files(summary=str(summary_csv)),
               params=Files(summary_settings=settings))  # fmt: skip
    summary = pd.read_csv(summary_csv)
    dropped = summary[summary["section"] == "filter"].set_index("model")["n_dropped"]
    weaker = models[int(np.argmin(intact))]
    assert dropped.to_dict() == {m: int(m == weaker) for m in models}
    assert summary_csv.read_text().count(",1,") >= 1  # counts written as integers
    primary = summary[summary["section"] == "primary"]
    assert len(primary) == 3 * 2 * 2  # contrasts x strategies x measures
    rate = primary[primary["contrast"] == "dale_vs_nodale_rate"]
    # the primary contrasts name method eprop: no network of these bptt fits is in them
    assert (rate["n_a"] + rate["n_b"] == 0).all() and rate["p_holm"].isna().all()
    power = summary.loc[summary["section"] == "power", "note"].tolist()
    assert power == ["primary family: 12 test(s), none could run (< 3 seeds per group)"]

    png, pdf = tmp_path / "paper.png", tmp_path / "paper.pdf"
    figure = Files(
        measure=resilience.figure_measure(config, SimpleNamespace(measure="paper")),
        figure_settings=resilience.figure_settings(config),
        dpi=60,
        font_size=8.0,
    )
    job = Files(curves=curves, areas=areas, summary=str(summary_csv))
    run_script("resilience_figure", tmp_path, input=job, output=Files(png=str(png), pdf=str(pdf)),
               params=figure)  # fmt: skip
    assert png.stat().st_size > 10_000 and pdf.stat().st_size > 1_000


@pytest.fixture
def one_thread_torch():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_the_preset_is_the_papers_protocol_and_the_default_is_off():
    """config/resilience.yaml: four e-prop groups with the paper's Dale form beside ours, 20
    seeds, stop at pVar 0.91, the 0.8 filter, 32 random orders; its primary contrasts each
    select one model (the check passes). config.yaml leaves the stage off."""
    assert shipped_config()["resilience"]["enabled"] is False
    preset = shipped_config("config/resilience.yaml")
    assert preset["resilience"]["enabled"] is True
    assert sorted(preset["fit"]["models"]) == sorted(
        f"{dynamics}_{dale}_eprop"
        for dynamics in ("rate", "spiking")
        for dale in ("dalesign", "nodale", "dale")
    )
    assert preset["fit"]["seeds"] == list(range(20))
    assert preset["fit"]["defaults"]["training"]["stop_pvar"] == 0.91
    settings = resilience.curve_settings(preset)
    assert (len(settings["levels"]), settings["repeats"]) == (21, 32)
    summary = resilience.summary_settings(preset)
    assert summary["filter_pvar"] == 0.8
    assert {c["a"] for c in summary["primary_contrasts"] if c["factor"] == "dale"} == {"dalesign"}
    assert len(targets.resilience_tables(preset)) == 6 * 20


@pytest.mark.usefixtures("one_thread_torch")
def test_a_bad_input_ends_the_job_with_one_line(tmp_path, capsys):
    fit = tiny_fit(tmp_path, "rate_nodale_bptt")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["target"] = np.zeros((3, 60))
    config = shipped_config("tests/config.test.yaml", resilience={"levels": 2})
    params = Files(labels={"dataset": "toy", "model": "rate_nodale_bptt", "seed": 0},
                   resilience_settings=resilience.curve_settings(config))  # fmt: skip
    out = Files(curves=str(tmp_path / "c.csv"), areas=str(tmp_path / "a.csv"))
    with pytest.raises(SystemExit) as stop:
        run_script("resilience_curves", tmp_path, params=params, output=out,
                   input=Files(model=str(fit["model"]), prediction=str(other)))  # fmt: skip
    assert str(stop.value) == (
        f"resilience_curves: {other}: 3 neurons but the model in {fit['model']} has 6 units"
    )
    assert "Traceback" not in capsys.readouterr().err
    assert not list(tmp_path.glob("[ca].csv"))
    summary = Files(summary_settings=resilience.summary_settings(config))
    with pytest.raises(SystemExit, match=r"^resilience_summary: .*nowhere.csv: not a readable"):
        run_script("resilience_summary", tmp_path, params=summary,
                   input=Files(curves=[str(tmp_path / "nowhere.csv")], areas=[]),
                   output=Files(summary=str(tmp_path / "s.csv")))  # fmt: skip


def test_the_teacher_script_scores_the_circuit_as_its_ablation_does(tmp_path):
    """resilience_teacher on a small simulated teacher session: its intact and fully ablated
    points are the scores of fit.truth's teacher scorer (the ablation stage's) on the same
    recording, read and preprocessed as the job's params say."""
    from neurocircuit.fit.recording import Preprocessing, preprocess
    from neurocircuit.fit.truth import teacher_rollout_score
    from neurocircuit.imaging.synthetic import (
        SyntheticVolumeSpec,
        read_ground_truth,
        simulate_volume,
        write_ground_truth,
    )
    from neurocircuit.workflow import fit

    spec = SyntheticVolumeSpec(n_planes=2, height=64, width=64, n_volumes=200, n_neurons=16,
                               population="teacher", n_ensembles=3, event_rate_hz=0.6)  # fmt: skip
    recording = simulate_volume(spec, seed=1)
    truth_path, activity = tmp_path / "ground_truth.h5", tmp_path / "activity.h5"
    write_ground_truth(recording, truth_path, 1)
    dff = recording.dff + 0.02 * np.random.default_rng(0).normal(size=recording.dff.shape)
    with h5py.File(activity, "w") as h5:
        h5["dff"], h5["time_s"] = dff, np.arange(spec.n_volumes) / spec.volume_rate_hz
        h5["truth_index"] = np.arange(spec.n_neurons)
    config = shipped_config("tests/config.test.yaml", resilience={"levels": 3, "random_repeats": 2})
    tiny = SimpleNamespace(dataset="tiny")
    params = Files(labels=resilience.teacher_labels(tiny),
                   recording_settings=fit.recording_params(config, tiny),
                   preprocessing_settings=fit.preprocessing_params(config, tiny),
                   resilience_settings=resilience.curve_settings(config))  # fmt: skip
    out = Files(curves=str(tmp_path / "seed0.csv"), areas=str(tmp_path / "seed0_areas.csv"))
    run_script("resilience_teacher", tmp_path, params=params, output=out,
               input=Files(truth=str(truth_path), activity=str(activity)))  # fmt: skip

    curves = pd.read_csv(out.curves)
    assert set(curves["model"]) == {"teacher"} and set(curves["dataset"]) == {"tiny"}
    # controls x levels x (weakest_global, 2 random, weakest)
    assert len(curves) == 2 * 3 * (1 + 2 + 1)
    preset = Preprocessing(**params.preprocessing_settings)
    target = preprocess(dff.T, preset)
    weight, score = teacher_rollout_score(
        read_ground_truth(truth_path), np.arange(16), target, preset.smoothing_sigma_frames
    )
    none = curves[curves["control"] == "none"].groupby("level")["pvar"]
    assert none.min()[0.0] == pytest.approx(score(np.ones_like(weight)), abs=1e-9)
    assert none.max()[0.0] == pytest.approx(score(np.ones_like(weight)), abs=1e-9)
    assert none.min()[1.0] == pytest.approx(score(np.zeros_like(weight)), abs=1e-9)
    assert score(np.ones_like(weight)) > score(np.zeros_like(weight)) + 0.1
    areas = pd.read_csv(out.areas)
    assert len(areas) == 3 * 2 * 2 and set(areas["score"]) == {"ratio", "per_neuron"}
