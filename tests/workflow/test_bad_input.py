"""What users get wrong, fed to the whole workflow: each run stops with one line naming the problem.

Two kinds of mistakes:
- config mistakes (misspelt key, wrong type, negative rate, unknown data set or model, an empty
  data_dir) stop the run while Snakemake parses the workflow, before any job: one
  ``Config error: ...`` line, no traceback, no results/ folder;
- bad data (a truncated TIFF, an activity file with NaN rows or no neurons, a suite2p folder with
  the wrong plane count) stop the run at the first, light job that reads it, before any heavy
  job (registration/detection, training), with one line naming the file, and nothing under
  results/ that a later run would trust.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, TEST_CONFIG, copy_workflow, files_under, run_snakemake

# ---------------------------------------------------------------- helpers


def write_config(folder: Path, overrides: dict) -> Path:
    path = folder / "bad_config.yaml"
    path.write_text(yaml.safe_dump(overrides, sort_keys=False))
    return path


def run_with(workdir: Path, overrides: dict, *targets: str) -> subprocess.CompletedProcess:
    """A real (not dry) run of ``targets`` with the test config and ``overrides`` on top."""
    config = write_config(workdir, overrides)
    return run_snakemake(
        workdir,
        *targets,
        "--cores",
        "2",
        "--configfile",
        TEST_CONFIG,
        str(config),
        timeout=300,
    )


def executed_rules(result: subprocess.CompletedProcess) -> list[str]:
    """Names of the rules whose jobs Snakemake started (its ``rule x:`` job headers)."""
    rules = []
    for line in (result.stdout + result.stderr).splitlines():
        stripped = line.strip()
        for prefix in ("rule ", "localrule "):
            if stripped.startswith(prefix) and stripped.endswith(":"):
                rules.append(stripped[len(prefix) : -1])
    return rules


def assert_one_config_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    lines = [line for line in output.splitlines() if "Config error" in line]
    assert len(lines) == 1, output[-3000:]
    for fragment in expected:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in output, output[-3000:]
    assert executed_rules(result) == []
    return lines[0]


@pytest.fixture(scope="module")
def parse_only_workflow(tmp_path_factory, workflow_snapshot) -> Path:
    """One workflow copy shared by the config cases: none of them may write anything."""
    return copy_workflow(tmp_path_factory.mktemp("bad_config") / "workflow_copy", workflow_snapshot)


# ---------------------------------------------------------------- config mistakes
CONFIG_CASES = [
    pytest.param(
        {"imaging": {"neuropil_coefficent": 0.7}},
        ["unknown config key 'imaging.neuropil_coefficent'", "did you mean 'neuropil_coefficient'"],
        id="misspelt-key",
    ),
    pytest.param(
        {"devcie": "cpu"},
        ["unknown config key 'devcie'", "did you mean 'device'"],
        id="misspelt-top-level-key",
    ),
    pytest.param(
        {"imaging": {"synthetic": {"n_planes": "three"}}},
        ["imaging.synthetic.n_planes", "not of type 'integer'"],
        id="wrong-type",
    ),
    pytest.param(
        {"classification": {"seeds": 0}},
        ["classification.seeds", "not of type 'array'"],
        id="wrong-type-list",
    ),
    pytest.param(
        {"imaging": {"synthetic": {"event_rate_hz": -0.5}}},
        ["imaging.synthetic.event_rate_hz", "-0.5"],
        id="negative-rate",
    ),
    pytest.param(
        {"classification": {"defaults": {"lr": -0.001}}},
        ["classification.defaults.lr", "-0.001"],
        id="negative-learning-rate",
    ),
    pytest.param(
        {"classification": {"datasets": ["mnsit"]}},
        ["classification.datasets", "'mnsit' is not one of"],
        id="unknown-dataset",
    ),
    pytest.param(
        {"fit": {"datasets": ["zebrfish"]}},
        ["fit.datasets", "'zebrfish'", "neither 'zebrafish' nor an imaging session"],
        id="unknown-fit-dataset",
    ),
    pytest.param(
        {"classification": {"models": ["lif_dalee"]}},
        ["classification.models", "lif_dalee", "not defined"],
        id="unknown-model",
    ),
    pytest.param(
        {"fit": {"models": ["rate_dale_bpt"]}},
        ["fit.models", "'rate_dale_bpt'"],
        id="unknown-fit-model",
    ),
    pytest.param(
        {"device": "gpu"},
        ["device", "'gpu' is not one of"],
        id="unknown-device",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), CONFIG_CASES)
def test_config_mistake_stops_before_any_job(parse_only_workflow, overrides, expected):
    result = run_with(parse_only_workflow, overrides)
    assert_one_config_error(result, *expected)
    assert not (parse_only_workflow / "results").exists()


def test_empty_data_dir_names_the_files_to_put_where(parse_only_workflow, tmp_path):
    """data_dir is set but empty, and downloads are off: which files, into which folder."""
    empty = tmp_path / "my_data"
    empty.mkdir()
    overrides = {
        "data_dir": str(empty),
        "classification": {"datasets": ["mnist"], "download": False},
        "fit": {"datasets": []},
    }
    result = run_with(parse_only_workflow, overrides)
    line = assert_one_config_error(result, "mnist", str(empty / "mnist"))
    assert "train-images-idx3-ubyte" in line and "t10k-labels-idx1-ubyte" in line, line
    assert not (parse_only_workflow / "results").exists()


def test_missing_data_dir_is_named_in_a_warning(parse_only_workflow, tmp_path):
    """A data_dir that does not exist (a typo): one warning naming it, then the usual offline
    error for the files nobody has (downloads off), and no job."""
    typo = tmp_path / "my_dta"
    overrides = {
        "data_dir": str(typo),
        "classification": {"datasets": ["mnist"], "download": False},
        "fit": {"datasets": []},
    }
    result = run_with(parse_only_workflow, overrides)
    output = result.stdout + result.stderr
    warnings = [line for line in output.splitlines() if line.startswith("Warning: data_dir")]
    assert len(warnings) == 1 and str(typo) in warnings[0], output[-3000:]
    assert_one_config_error(result, "mnist")


# ---------------------------------------------------------------- bad data
def heavy_rules() -> set[str]:
    """The compute-heavy rules (suite2p, training): those the SLURM profile gives threads to."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    return set(profile["set-threads"])


def assert_stops_on_bad_data(
    workdir: Path, result: subprocess.CompletedProcess, failing_rule: str, *expected: str
) -> None:
    """The run failed in ``failing_rule`` (a light job) with a message holding ``expected``.

    No heavy job started; the console shows the job's one line ``<rule>: <message>`` and no
    traceback, the failed job's log ends with that same line (after its time and level), and
    results/ holds nothing but logs and benchmarks (no output, no temporary left behind).
    """
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert f"Error in rule {failing_rule}" in output, output[-3000:]
    assert not heavy_rules() & set(executed_rules(result)), executed_rules(result)
    lines = [
        line
        for line in output.splitlines()
        if line.startswith(f"{failing_rule}: ") and all(f in line for f in expected)
    ]
    assert len(lines) == 1, f"no one line '{failing_rule}: ...{expected}' in:\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    logs = list((workdir / "results" / "logs" / failing_rule).rglob("*.log"))
    assert len(logs) == 1, logs
    last = logs[0].read_text().strip().splitlines()[-1]
    assert last.endswith(f" ERROR {lines[0]}"), last
    left = [
        path
        for path in files_under(workdir / "results")
        if path.parts[0] not in ("logs", "benchmarks")
    ]
    assert left == [], f"results/ holds files of a failed run: {left}"
    hidden = [p for p in (workdir / "results").rglob(".*")]
    assert hidden == [], f"temporaries left behind: {hidden}"


def write_movie(path: Path, n_volumes: int = 60, n_planes: int = 2, size: int = 48) -> Path:
    """A multi-page uint16 TIFF, planes interleaved (ScanImage order)."""
    import numpy as np
    import tifffile

    rng = np.random.default_rng(0)
    frames = rng.poisson(200, size=(n_volumes * n_planes, size, size)).astype(np.uint16)
    tifffile.imwrite(path, frames)
    return path


def imaging_session(name: str, source: str, path: Path, **extra) -> dict:
    """Overrides that run only the imaging stage, on one session (the fit stage off)."""
    session = {"name": name, "source": source, "path": str(path), "fs_hz": 5.0, **extra}
    return {"imaging": {"sessions": [session]}, "fit": {"datasets": []}}


def write_suite2p_folder(folder: Path, n_planes: int, declared_planes: int) -> Path:
    """A suite2p output with ``n_planes`` plane folders whose ops.npy say ``declared_planes``."""
    import numpy as np

    rng = np.random.default_rng(1)
    n_rois, n_frames = 4, 200
    for plane in range(n_planes):
        plane_dir = folder / f"plane{plane}"
        plane_dir.mkdir(parents=True)
        F = 500 + 50 * rng.random((n_rois, n_frames))
        np.save(plane_dir / "F.npy", F.astype(np.float32))
        np.save(plane_dir / "Fneu.npy", (0.5 * F).astype(np.float32))
        np.save(plane_dir / "iscell.npy", np.tile([1.0, 0.9], (n_rois, 1)))
        stat = [
            {"ypix": np.arange(3) + 5 * k, "xpix": np.arange(3) + 5 * k, "med": [5 * k, 5 * k]}
            for k in range(n_rois)
        ]
        np.save(plane_dir / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
        ops = {"nplanes": declared_planes, "fs": 5.0, "meanImg": np.ones((32, 32))}
        np.save(plane_dir / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    return folder


def test_truncated_tiff_stops_before_registration(workflow_dir, tmp_path):
    movie = write_movie(tmp_path / "recording.tif")
    movie.write_bytes(movie.read_bytes()[: int(movie.stat().st_size * 0.6)])
    result = run_with(
        workflow_dir,
        imaging_session("cut", "tiff", movie, n_planes=2),
        "results/imaging/cut/metrics.json",
    )
    assert_stops_on_bad_data(
        workflow_dir, result, "imaging_split_planes", "recording.tif", "truncated TIFF"
    )


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param("nan_rows", ["traces.npy", "row(s) [1, 3]", "no finite value"], id="nan-rows"),
        pytest.param("no_neurons", ["traces.npy", "(0, 200)", ">= 1 neuron"], id="zero-neurons"),
    ],
)
def test_bad_traces_file_stops_with_one_line(workflow_dir, tmp_path, rows, expected):
    import numpy as np

    traces = 500 + 50 * np.random.default_rng(2).random((5, 200))
    if rows == "nan_rows":
        traces[[1, 3]] = np.nan
    else:
        traces = traces[:0]
    path = tmp_path / "traces.npy"
    np.save(path, traces)
    result = run_with(
        workflow_dir,
        imaging_session("bad_traces", "traces", path),
        "results/imaging/bad_traces/metrics.json",
    )
    assert_stops_on_bad_data(workflow_dir, result, "imaging_activity", *expected)


def test_suite2p_folder_missing_planes_stops_with_one_line(workflow_dir, tmp_path):
    """ops.npy says 3 planes, the folder holds 2 (an incomplete copy of a 3-plane recording)."""
    folder = write_suite2p_folder(tmp_path / "suite2p", n_planes=2, declared_planes=3)
    result = run_with(
        workflow_dir,
        imaging_session("partial", "suite2p", folder),
        "results/imaging/partial/metrics.json",
    )
    assert_stops_on_bad_data(workflow_dir, result, "imaging_activity", str(folder), "3 planes")


def test_suite2p_folder_with_other_plane_count_than_configured(workflow_dir, tmp_path):
    """The session says n_planes: 3; the suite2p folder is from a 2-plane recording."""
    folder = write_suite2p_folder(tmp_path / "suite2p", n_planes=2, declared_planes=2)
    result = run_with(
        workflow_dir,
        imaging_session("other", "suite2p", folder, n_planes=3),
        "results/imaging/other/metrics.json",
    )
    assert_stops_on_bad_data(
        workflow_dir, result, "imaging_activity", str(folder), "n_planes: 3", "2 plane folder"
    )


ZEBRAFISH_FILE = "Stimulus_data_2022_02_23_fish3_1.npy"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param("nan_rows", [ZEBRAFISH_FILE, "NaN rows: 2, 5"], id="nan-rows"),
        pytest.param("no_neurons", [ZEBRAFISH_FILE, "zero neurons"], id="zero-neurons"),
    ],
)
def test_bad_activity_file_for_fitting_stops_before_training(
    workflow_dir, tmp_path, rows, expected
):
    """A recording in data_dir/zebrafish/ with NaN rows or no neurons: the fit stage's input."""
    import numpy as np

    activity = 500 + 50 * np.random.default_rng(3).random((12, 100))
    if rows == "nan_rows":
        activity[[2, 5]] = np.nan
    else:
        activity = activity[:0]
    (tmp_path / "zebrafish").mkdir()
    np.save(tmp_path / "zebrafish" / ZEBRAFISH_FILE, activity)
    overrides = {
        "data_dir": str(tmp_path),
        "fit": {"datasets": ["zebrafish"], "models": ["rate_dale_bptt"]},
        "ablation": {"enabled": False},
    }
    result = run_with(
        workflow_dir, overrides, "results/fit/zebrafish/rate_dale_bptt/seed0/metrics.json"
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert [line for line in output.splitlines() if all(f in line for f in expected)], output[
        -3000:
    ]
    started = set(executed_rules(result))
    assert not heavy_rules() & started, f"a heavy job started on a bad input file: {started}"
    assert not list((workflow_dir / "results" / "fit").rglob("*.json"))
