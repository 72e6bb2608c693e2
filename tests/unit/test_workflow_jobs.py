"""A rule's job saved beside its log (runtime.save_job) rebuilds the ``snakemake`` object a rule
script reads, so any rule script reruns by hand: ``python workflow/scripts/<rule>.py
<log>.params.json``."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from neurocircuit.runtime import (
    NamedList,
    SavedJob,
    load_job,
    rule_job,
    save_job,
    saved_job_path,
    script_job,
)
from snakemake.iocontainers import InputFiles, Log, OutputFiles, Params, ResourceList, Wildcards
from snakemake.script import Snakemake

ROOT = Path(__file__).resolve().parents[2]
RECORDING = {"frame_period_s": 0.5, "max_neurons": None, "max_frames": 15}


def check_job(activity: str) -> Snakemake:
    """The ``snakemake`` object of a fit_check_activity job, as Snakemake builds it."""
    return Snakemake(
        InputFiles(fromdict={"activity": activity}),
        OutputFiles(fromdict={"check": "results/fit/rec/activity_check.json"}),
        Params(fromdict={"recording_settings": RECORDING}),
        Wildcards(fromdict={"dataset": "rec"}),
        1,
        ResourceList(fromdict={"_cores": 1, "mem_mb": 2000, "tmpdir": "/tmp"}),
        Log(["results/logs/fit_check_activity/rec.log"]),
        {},
        "fit_check_activity",
        None,
    )


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in ``tmp_path`` (a job's paths are relative), keeping the thread settings."""
    monkeypatch.chdir(tmp_path)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    return tmp_path


def test_a_saved_job_reads_like_the_snakemake_object(in_tmp):
    smk = check_job("rec.npy")
    path = save_job(smk, "job.params.json")
    job = load_job(path)
    assert isinstance(job, SavedJob) and job.rule == "fit_check_activity" and job.threads == 1
    assert job.input.activity == "rec.npy" and list(job.input) == ["rec.npy"]
    assert dict(job.output.items()) == {"check": "results/fit/rec/activity_check.json"}
    assert job.params.recording_settings == RECORDING
    assert job.params["recording_settings"] == RECORDING
    assert job.wildcards.dataset == "rec" and job.resources.mem_mb == 2000
    assert job.log[0] == "results/logs/fit_check_activity/rec.log" and len(job.log) == 1
    assert job.input.get("truth") is None
    assert not hasattr(job.input, "truth")


def test_named_lists_keep_file_lists_under_one_name():
    files = NamedList(["a", "b", "c"], {"metrics": ["a", "b"], "table": "c"})
    assert list(files) == ["a", "b", "c"] and files[2] == "c"
    assert list(files.metrics) == ["a", "b"] and dict(files.items())["table"] == "c"
    assert list(files.keys()) == ["metrics", "table"]


def test_a_rule_script_reruns_by_hand_from_the_saved_job(in_tmp):
    rng = np.random.default_rng(0)
    np.save(in_tmp / "rec.npy", rng.random((6, 20)))
    smk = check_job("rec.npy")
    with rule_job(smk, torch=False):  # what Snakemake's run of the script does first
        pass
    saved = saved_job_path(smk.log[0])
    assert saved == Path("results/logs/fit_check_activity/rec.log.params.json")
    assert json.loads(saved.read_text())["params"] == {"recording_settings": RECORDING}
    script = ROOT / "workflow" / "scripts" / "fit_check_activity.py"
    result = subprocess.run(
        [sys.executable, str(script), str(saved)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    check = json.loads((in_tmp / "results/fit/rec/activity_check.json").read_text())
    assert check["dataset"] == "rec" and check["n_neurons"] == 6 and check["n_frames"] == 15
    assert "n_neurons" in (in_tmp / smk.log[0]).read_text()  # the log is written again


def test_a_rule_script_without_a_job_says_how_to_run_it(in_tmp):
    assert script_job("the snakemake object") == "the snakemake object"
    with pytest.raises(SystemExit, match=r"usage: .* PARAMS\.json"):
        script_job(None, argv=[])
    script = ROOT / "workflow" / "scripts" / "classification_summarize.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert result.returncode != 0 and "PARAMS.json" in result.stderr
