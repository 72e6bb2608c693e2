"""The imaging part of the workflow, run for real in a private copy of the workflow.

- a tiny synthetic volume (tests/config.test.yaml), the same volume as a raw NWB file (source
  nwb), plus the real suite2p folder and the real traces file when ../shared/data holds them:
  every file and number of the stage's outputs, activity.nwb valid (nwbinspector) and equal to
  activity.h5;
- the demo volume (config/demo.yaml): recall >= 0.8 and median correlation >= 0.85;
- bad input: a session config typo, a repeated session name, a missing movie, a truncated TIFF,
  an NWB file that is not one.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from conftest import SHARED_DATA, TEST_CONFIG, leftover_temporaries, run_snakemake
from helpers.nwb_files import assert_same_activity, serious_inspector_messages

PYNAPPLE = SHARED_DATA / "suite2p_pynapple"
ZEBRAFISH = SHARED_DATA / "zebrafish" / "Stimulus_data_2022_02_23_fish3_1.npy"
REQUIRED_DATASETS = {"dff", "time_s", "positions", "cell_probability"}
REQUIRED_ATTRS = {"config_hash", "package_versions", "source_files", "fs_hz", "session"}


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def check_session(folder: Path, n_frames: int, serious: tuple = ()) -> tuple[dict, dict]:
    """The outputs exist, the activity file has the promised layout, and activity.nwb is valid
    (from nwbinspector nothing serious but ``serious``) and holds the same activity."""
    metrics = json.loads((folder / "metrics.json").read_text())
    with h5py.File(folder / "activity.h5", "r") as h5:
        assert REQUIRED_DATASETS <= set(h5.keys())
        assert REQUIRED_ATTRS <= set(h5.attrs.keys())
        dff = h5["dff"][()]
        assert dff.dtype == np.float32 and dff.shape == (metrics["n_neurons"], n_frames)
        assert np.isfinite(dff).all()
        assert h5["positions"].shape == (len(dff), 3) and h5["time_s"].shape == (n_frames,)
        assert h5["cell_probability"].shape == (len(dff),)
        assert json.loads(h5.attrs["source_files"])
        attrs = dict(h5.attrs)
    for key in ("n_rois", "n_neurons", "masked_frames"):
        assert key in metrics
    assert (folder / "qc.png").stat().st_size > 20_000 and (folder / "qc.pdf").exists()
    assert serious_inspector_messages(folder / "activity.nwb") == list(serious)
    assert_same_activity(folder / "activity.nwb", folder / "activity.h5")
    return metrics, attrs


@pytest.mark.slow
def test_imaging_stage_on_tiny_volume_and_real_inputs(workflow_dir):
    sessions = yaml.safe_load((workflow_dir / TEST_CONFIG).read_text())["imaging"]["sessions"]
    assert [s["source"] for s in sessions] == ["synthetic", "nwb"]  # tiny and tiny_nwb
    # activity.nwb needs a subject (docs/imaging.md): pynapple's is unknown, as in config.yaml;
    # the zebrafish one is a test stand-in.
    note = {"sex": "U", "age": "P1D/", "description": "test stand-in, not the recorded animal"}
    if PYNAPPLE.is_dir():
        sessions.append(
            {"name": "pynapple", "source": "suite2p", "path": str(PYNAPPLE), "fs_hz": 10.0}
            | {"subject": "unknown"}
        )
    if ZEBRAFISH.is_file():
        subject = {"subject_id": "fish3", "species": "Danio rerio", **note}
        sessions.append(
            {"name": "zebrafish", "source": "traces", "path": str(ZEBRAFISH), "fs_hz": 1.0 / 0.9}
            | {"subject": subject}
        )
    extra = write_yaml(workflow_dir / "sessions.yaml", {"imaging": {"sessions": sessions}})
    run_snakemake(
        workflow_dir, "imaging", "--cores", "2", "--configfile", TEST_CONFIG, str(extra), check=True
    )
    results = workflow_dir / "results"

    metrics, attrs = check_session(results / "imaging" / "tiny", n_frames=300)
    assert metrics["n_true"] == 16 and metrics["recall"] >= 0.8
    assert metrics["median_corr"] >= 0.85 and metrics["precision"] >= 0.8
    assert metrics["masked_frames"] == 0 and attrs["source"] == "synthetic"
    with h5py.File(results / "imaging" / "tiny" / "activity.h5") as h5:
        truth_index = h5["truth_index"][()]  # the matching behind recall, for the fit stage
    assert (truth_index >= 0).sum() == metrics["n_matched"]
    matched = truth_index[truth_index >= 0]
    assert len(set(matched)) == matched.size and matched.max() < metrics["n_true"]
    for plane in (0, 1):
        folder = results / "imaging" / "tiny" / "suite2p" / f"plane{plane}"
        assert (folder / "F.npy").exists() and not (folder / "data.bin").exists()
        assert (results / "logs" / "imaging_suite2p_plane" / f"tiny_plane{plane}.log").exists()
    assert (results / "benchmarks" / "imaging_activity" / "tiny.tsv").exists()

    # tiny_nwb: the same volume, written as a 4-D TwoPhotonSeries, read through NWB.
    metrics, attrs = check_session(results / "imaging" / "tiny_nwb", n_frames=300)
    assert attrs["source"] == "nwb" and metrics["fs_hz"] == 10.0  # rate and planes: the file's
    info = json.loads((results / "imaging/tiny_nwb/planes/movie_info.json").read_text())
    assert info["format"] == "nwb" and info["nwb_layout"] == "zstack" and info["n_planes"] == 2
    with h5py.File(results / "imaging/tiny/activity.h5") as a:
        with h5py.File(results / "imaging/tiny_nwb/activity.h5") as b:
            assert np.array_equal(a["dff"][()], b["dff"][()])
            assert np.array_equal(a["positions"][()], b["positions"][()])

    if PYNAPPLE.is_dir():
        species = (
            "BEST_PRACTICE_VIOLATION check_subject_species_exists: Subject species is missing."
        )
        metrics, _ = check_session(results / "imaging" / "pynapple", 2000, serious=(species,))
        assert (metrics["n_rois"], metrics["n_neurons"]) == (219, 20)
        log = (results / "logs" / "imaging_activity" / "pynapple.log").read_text()
        assert "session 'pynapple': subject unknown (config): activity.nwb is not DANDI" in log
    if ZEBRAFISH.is_file():
        metrics, _ = check_session(results / "imaging" / "zebrafish", 620)
        assert metrics["n_neurons"] == 522
    assert leftover_temporaries(results) == []
    assert not [p for p in results.rglob(".*") if p.name not in {".snakemake_timestamp"}]


@pytest.mark.slow
def test_demo_volume_accuracy(workflow_dir):
    """The demo's synthetic session: suite2p finds the simulated neurons and their ΔF/F."""
    run_snakemake(
        workflow_dir,
        "results/imaging/synthetic/metrics.json",
        "--cores",
        "2",
        "--configfile",
        "config/demo.yaml",
        check=True,
    )
    metrics = json.loads((workflow_dir / "results/imaging/synthetic/metrics.json").read_text())
    assert metrics["n_true"] >= 60 and metrics["n_frames"] == 600
    assert metrics["recall"] >= 0.8, metrics
    assert metrics["median_corr"] >= 0.85, metrics
    assert metrics["n_merged"] > 0  # somata between planes were seen twice and merged


def config_error(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if "Config error" in line]


def test_session_key_typo_and_repeated_name_stop_with_one_line(workflow_dir):
    typo = write_yaml(
        workflow_dir / "typo.yaml",
        {"imaging": {"sessions": [{"name": "s", "source": "synthetic", "sed": 1}]}},
    )
    result = run_snakemake(workflow_dir, "-n", "--configfile", str(typo), timeout=120)
    assert result.returncode != 0
    assert config_error(result) == [
        "Config error: unknown config key 'imaging.sessions.0.sed' (did you mean 'seed'?)"
    ]
    twice = write_yaml(
        workflow_dir / "twice.yaml",
        {
            "imaging": {
                "sessions": [
                    {"name": "s", "source": "synthetic"},
                    {"name": "s", "source": "synthetic"},
                ]
            }
        },
    )
    result = run_snakemake(workflow_dir, "-n", "--configfile", str(twice), timeout=120)
    assert config_error(result) == [
        "Config error: imaging.sessions: session name 's' is used twice"
    ]


def tiff_session_config(workflow_dir: Path, name: str, path: Path) -> Path:
    """The test config's sessions plus a 2-plane TIFF session (other stages may name them)."""
    base = yaml.safe_load((workflow_dir / TEST_CONFIG).read_text())["imaging"]["sessions"]
    session = {"name": name, "source": "tiff", "path": str(path), "fs_hz": 5.0, "n_planes": 2}
    return write_yaml(workflow_dir / f"{name}.yaml", {"imaging": {"sessions": [*base, session]}})


def test_missing_movie_is_named_before_any_job(workflow_dir, tmp_path):
    missing = tmp_path / "no_such_movie.tif"
    config = tiff_session_config(workflow_dir, "m", missing)
    result = run_snakemake(
        workflow_dir,
        "results/imaging/m/activity.h5",
        "-n",
        "--configfile",
        TEST_CONFIG,
        str(config),
        timeout=120,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert str(missing) in output and "Missing input files" in output


def test_nwb_file_that_is_not_hdf5_stops_at_the_split(workflow_dir, tmp_path):
    bad = tmp_path / "asset.nwb"
    bad.write_text("<html>Access denied</html>\n")  # what a failed DANDI download can leave
    base = yaml.safe_load((workflow_dir / TEST_CONFIG).read_text())["imaging"]["sessions"]
    session = {"name": "bad", "source": "nwb", "path": str(bad)}
    config = write_yaml(tmp_path / "bad.yaml", {"imaging": {"sessions": [*base, session]}})
    result = run_snakemake(
        workflow_dir,
        "results/imaging/bad/activity.nwb",
        "--cores",
        "1",
        "--configfile",
        TEST_CONFIG,
        str(config),
        timeout=300,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    line = f"imaging_split_planes: {bad}: not an HDF5 file, so not an NWB file"
    assert [row for row in output.splitlines() if row.startswith(line)], output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "rule imaging_suite2p_plane" not in output
    assert not (workflow_dir / "results/imaging/bad/planes").exists()
    assert not list((workflow_dir / "results/imaging/bad").glob(".*"))


def test_truncated_tiff_stops_at_the_split_before_suite2p(workflow_dir, tmp_path):
    import tifffile

    movie = np.random.default_rng(0).integers(0, 500, size=(40, 32, 32)).astype(np.int16)
    tifffile.imwrite(tmp_path / "full.tif", movie, photometric="minisblack")
    data = (tmp_path / "full.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) * 2 // 3])
    config = tiff_session_config(workflow_dir, "cut", tmp_path / "cut.tif")
    result = run_snakemake(
        workflow_dir,
        "results/imaging/cut/qc.png",
        "--cores",
        "1",
        "--configfile",
        TEST_CONFIG,
        str(config),
        timeout=300,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    line = f"imaging_split_planes: {tmp_path / 'cut.tif'}: truncated TIFF"
    assert [row for row in output.splitlines() if row.startswith(line)], output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    log = (workflow_dir / "results/logs/imaging_split_planes/cut.log").read_text()
    assert f" ERROR {line}" in log.strip().splitlines()[-1], log
    assert "rule imaging_suite2p_plane" not in result.stdout + result.stderr
    assert not (workflow_dir / "results/imaging/cut/planes").exists()
    assert not list((workflow_dir / "results/imaging/cut").glob(".*"))
