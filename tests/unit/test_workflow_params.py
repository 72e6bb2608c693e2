"""Each stage's input and params functions (neurocircuit.workflow.<stage>): what a job reads,
resolved per wildcard set from the config, with no Snakemake."""

import re
from types import SimpleNamespace as Wildcards

import pytest
from neurocircuit.config import ConfigError
from neurocircuit.workflow import ablation, classification, figures, fit, imaging
from neurocircuit.workflow.checks import check_workflow_config, data_dir_warning
from neurocircuit.workflow.common import bind_config, canonical

from tests.helpers.workflow_config import shipped_config


@pytest.fixture(scope="module")
def demo():
    return shipped_config("config/demo.yaml")


@pytest.fixture(scope="module")
def test_config():
    return shipped_config("tests/config.test.yaml")


RUN = Wildcards(dataset="synthetic", model="rate_dale_bptt", seed="0")


# ---------------------------------------------------------------- shared
def test_canonical_sorts_every_mapping():
    value = canonical({"b": [{"z": 1, "a": 2}], "a": 0})
    assert list(value) == ["a", "b"] and list(value["b"][0]) == ["a", "z"]


def test_bind_config_makes_a_function_of_the_wildcards_and_config_errors_one_line():
    def files(config, wildcards, name):
        if wildcards.dataset == "bad":
            raise ConfigError("no such data set")
        return f"{config['root']}/{wildcards.dataset}/{name}"

    bound = bind_config(files, {"root": "r"}, name="x.csv")
    assert bound.__name__ == "files"
    assert bound(Wildcards(dataset="d")) == "r/d/x.csv"
    with pytest.raises(SystemExit, match="^Config error: no such data set$"):
        bound(Wildcards(dataset="bad"))


# ---------------------------------------------------------------- checks
def test_shipped_configs_pass_the_cross_checks(demo, test_config):
    check_workflow_config(demo)
    check_workflow_config(test_config)
    check_workflow_config(shipped_config())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fit": {"datasets": ["zebrfish"]}}, "fit.datasets: 'zebrfish' is neither 'zebrafish'"),
        ({"fit": {"models": ["spiking_dale_force"]}}, "fit.models: "),
        (
            {"imaging": {"sessions": [{"name": "a", "source": "synthetic"}] * 2}},
            "'a'",
        ),
    ],
    ids=["fit-dataset", "force-on-spiking", "repeated-session"],
)
def test_cross_check_failures_are_one_line_config_errors(overrides, message):
    config = shipped_config("config/demo.yaml", **overrides)
    with pytest.raises(ConfigError, match=message):
        check_workflow_config(config)


def test_data_dir_warning_names_a_missing_folder(tmp_path, demo):
    assert data_dir_warning({**demo, "data_dir": None}) is None
    assert data_dir_warning({**demo, "data_dir": str(tmp_path)}) is None
    warning = data_dir_warning({**demo, "data_dir": str(tmp_path / "typo")})
    assert warning.startswith("Warning: data_dir") and str(tmp_path / "typo") in warning


# ---------------------------------------------------------------- imaging
def test_synthetic_session_inputs_and_params(demo):
    session = Wildcards(session="synthetic")
    assert imaging.movie_path(demo, session) == "results/imaging/synthetic/raw/movie.tif"
    inputs = imaging.source_inputs(demo, session)
    assert inputs["plane_F"] == [
        f"results/imaging/synthetic/suite2p/plane{p}/F.npy" for p in range(3)
    ]
    assert inputs["truth"] == "results/imaging/synthetic/raw/ground_truth.h5"
    qc = imaging.qc_inputs(demo, session)
    assert set(qc) == {"plane_F", "activity", "metrics"}
    reading = imaging.movie_reading(demo, session)
    assert reading["fmt"] == "tiff" and reading["n_planes"] == 3 and "nwb_series" not in reading
    assert imaging.session_seed(demo, session) == 0
    assert "synthetic" in imaging.session_settings(demo, session)
    assert "sessions" not in imaging.session_settings(demo, session)
    suite2p = imaging.suite2p_settings(demo)
    assert suite2p["neuropil_coefficient"] == demo["imaging"]["neuropil_coefficient"]


def test_file_sessions_read_their_file(tmp_path, demo):
    sessions = [
        {"name": "s2p", "source": "suite2p", "path": "folder"},
        {"name": "tr", "source": "traces", "path": str(tmp_path / "t.npy")},
    ]
    config = {
        **demo,
        "data_dir": str(tmp_path),
        "imaging": {**demo["imaging"], "sessions": sessions},
    }
    assert imaging.source_inputs(config, Wildcards(session="s2p")) == {
        "suite2p_folder": str(tmp_path / "folder")
    }
    assert imaging.source_inputs(config, Wildcards(session="tr")) == {
        "traces": str(tmp_path / "t.npy")
    }
    with pytest.raises(ValueError, match="has no movie"):
        imaging.movie_path(config, Wildcards(session="tr"))
    assert "imaging.synthetic" not in imaging.session_settings(config, Wildcards(session="tr"))


def test_the_example_nwb_session_plans_before_its_file_exists(test_config):
    session = Wildcards(session="tiny_nwb")
    path = imaging.example_nwb_pattern(test_config).format(seed=1)
    assert imaging.source_inputs(test_config, session)["planes_dir"].endswith("tiny_nwb/planes")
    assert imaging.movie_path(test_config, session) == path
    planes = test_config["imaging"]["synthetic"]["n_planes"]
    assert len(imaging.plane_F(test_config, session)) == planes
    reading = imaging.movie_reading(test_config, session)
    assert reading["fmt"] == "nwb" and reading["n_planes"] is None and "nwb_series" in reading


def test_an_nwb_file_is_read_once(tmp_path, demo, monkeypatch):
    from neurocircuit.imaging import nwb_input

    calls = []

    def plan(path, series=None, n_planes=None):
        calls.append(path)
        return {"kind": "processed", "n_planes": None}

    monkeypatch.setattr(nwb_input, "nwb_session_plan", plan)
    imaging._read_nwb_plan.cache_clear()
    (tmp_path / "rec.nwb").write_bytes(b"")
    sessions = [{"name": "n", "source": "nwb", "path": str(tmp_path / "rec.nwb")}]
    config = {**demo, "imaging": {**demo["imaging"], "sessions": sessions}}
    for _ in range(3):
        assert imaging.source_inputs(config, Wildcards(session="n")) == {
            "nwb": str(tmp_path / "rec.nwb")
        }
    assert calls == [str(tmp_path / "rec.nwb")]
    imaging._read_nwb_plan.cache_clear()


# ---------------------------------------------------------------- classification
def test_classification_run_settings_and_files(demo, tmp_path):
    run = Wildcards(dataset="digits", model="lif_dale", seed="0")
    settings = classification.run_settings(demo, run)
    assert settings["dale"] is True and list(settings) == sorted(settings)
    assert classification.data_files(demo, run) == {}
    assert classification.train_runtime(run) == 30
    assert classification.train_runtime(Wildcards(dataset="shd")) == 1440
    assert classification.download_pattern(demo).endswith("{dataset}/{filename}")
    assert r"train-images-idx3-ubyte\.gz" in classification.download_names()


def test_missing_data_with_downloads_off_is_a_config_error(tmp_path, demo):
    config = {
        **demo,
        "data_dir": str(tmp_path),
        "classification": {**demo["classification"], "download": False},
    }
    with pytest.raises(ConfigError, match="download is false"):
        classification.data_files(config, Wildcards(dataset="mnist"))
    downloads = classification.data_files({**config, "classification": demo["classification"]},
                                          Wildcards(dataset="mnist"))  # fmt: skip
    assert all(path.startswith(demo["resources_dir"]) for path in downloads.values())


# ---------------------------------------------------------------- fit
def test_fit_params_hold_the_run_settings_of_their_model(demo):
    settings = fit.fit_settings(demo, RUN)
    assert settings["training"]["epochs"] == 300
    spiking = fit.fit_settings(demo, Wildcards(dataset="synthetic", model="spiking_dale_eprop"))
    # the demo's spiking e-prop networks need 1000 iterations to learn anything (config/demo.yaml)
    assert spiking["training"]["epochs"] == 1000
    bptt = fit.fit_settings(demo, Wildcards(dataset="synthetic", model="spiking_dale_bptt"))
    assert bptt["training"]["epochs"] == 300
    assert spiking["network"]["spiking"]["tau_out"] == 10.0  # the demo's, over config.yaml's 50
    force = fit.fit_settings(demo, Wildcards(dataset="synthetic", model="rate_nodale_force"))
    assert force["training"]["force"]["alpha"] == 10.0 and "lr" not in force["training"]
    assert fit.run_seed(RUN) == 0
    params = Wildcards(**vars(RUN), device="cpu", fit_settings=settings)
    run = fit.fit_run(params)
    assert run == {"dataset": "synthetic", "model": "rate_dale_bptt", "seed": 0,
                   "device": "cpu", "settings": settings}  # fmt: skip


def test_the_split_wildcard_names_the_split_and_keeps_the_output_folders():
    assert fit.split_name(Wildcards(split="")) == "in_sample"
    assert fit.split_name(Wildcards(split="/heldout")) == "heldout"
    assert fit.SPLIT_WILDCARD == "|/heldout"
    pattern = f"results/fit/d/m/seed0(?P<split>{fit.SPLIT_WILDCARD})/model.pt"
    assert re.fullmatch(pattern, "results/fit/d/m/seed0/model.pt")["split"] == ""
    assert re.fullmatch(pattern, "results/fit/d/m/seed0/heldout/model.pt")["split"] == "/heldout"
    assert re.fullmatch(pattern, "results/fit/d/m/seed0/other/model.pt") is None


def test_fit_inputs(demo, tmp_path):
    assert fit.activity_input(demo, RUN) == "results/imaging/synthetic/activity.h5"
    assert fit.truth_input(demo, RUN) == {"truth": "results/imaging/synthetic/raw/ground_truth.h5"}
    zebrafish = Wildcards(dataset="zebrafish")
    assert fit.truth_input(demo, zebrafish) == {}
    assert fit.activity_input(demo, zebrafish) == fit.zebrafish_download_path(demo)
    local = tmp_path / "zebrafish" / demo["fit"]["zebrafish"]["filename"]
    local.parent.mkdir()
    local.write_bytes(b"")
    assert fit.activity_input({**demo, "data_dir": str(tmp_path)}, zebrafish) == str(local)


def test_forecast_and_check_params(demo):
    split = fit.forecast_split(demo, RUN)
    assert set(split) >= {"preprocessing", "heldout_fraction", "frame_period_s"}
    assert "training" not in split and "network" not in split
    assert fit.forecast_split(demo, Wildcards(dataset="synthetic")) == split  # the teacher's
    assert fit.forecast_settings(demo) == canonical(demo["fit"]["forecast"])
    assert set(fit.recording_params(demo, RUN)) == {"frame_period_s", "max_neurons", "max_frames"}
    assert fit.preprocessing_params(demo, RUN)["smoothing_sigma_frames"] == 3
    params = Wildcards(dataset="synthetic", model=fit.TEACHER_MODEL, seed=0,
                       split_settings=split, forecast_settings={"horizon": 4})  # fmt: skip
    assert fit.forecast_run(params) == {"dataset": "synthetic", "model": "teacher", "seed": 0,
                                        "split": split, "forecast": {"horizon": 4}}  # fmt: skip


# ---------------------------------------------------------------- ablation and figures
def test_ablation_params_leave_enabled_out(demo):
    settings = ablation.ablation_settings(demo)
    assert set(settings) == {"fractions", "strategies", "random_repeats", "seed"}
    assert ablation.summary_runs(demo)[-1]["model"] == "teacher"


def test_figure_inputs_show_the_runs_of_their_data_set(demo):
    data = Wildcards(dataset="synthetic", model="rate_dale_bptt")
    config = shipped_config("config/demo.yaml", fit={"seeds": [2, 1]})
    assert figures.example_seed(config) == 1
    assert figures.example_seed(shipped_config("config/demo.yaml", fit={"seeds": []})) == 0
    assert figures.example_run_file(config, data, "prediction.h5") == (
        "results/fit/synthetic/rate_dale_bptt/seed1/prediction.h5"
    )
    assert len(figures.fit_run_files(config, data, "history.csv")) == 2 * 13
    weights = figures.example_runs_files(config, data, "weights.npz")
    assert len(weights) == 13 and all("/seed1/" in path for path in weights)
    assert len(figures.ablation_curve_files(demo, data)) == 14
    assert figures.ablation_curve_files(demo, Wildcards(dataset="other")) == []
