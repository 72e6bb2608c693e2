"""A session's activity.h5 and metrics.json from suite2p folders and traces, real data included."""

import json
from pathlib import Path

import numpy as np
import pytest
from neurocircuit.config import validate_config
from neurocircuit.imaging.activity import read_activity, write_activity
from neurocircuit.imaging.pipeline import build_session_activity

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
PYNAPPLE = DATA / "suite2p_pynapple"
ZEBRAFISH = DATA / "zebrafish" / "Stimulus_data_2022_02_23_fish3_1.npy"


@pytest.fixture(scope="module")
def settings():
    config = validate_config({}, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    return {k: v for k, v in config["imaging"].items() if k != "sessions"}


def run(settings, tmp_path, session, **inputs):
    metrics = build_session_activity(
        session, settings, tmp_path / "activity.h5", tmp_path / "metrics.json", **inputs
    )
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    return read_activity(tmp_path / "activity.h5"), metrics


def test_activity_file_round_trip_and_refusals(tmp_path):
    dff = np.random.default_rng(0).normal(size=(3, 20)).astype(np.float32)
    attrs = {
        "session": "s",
        "fs_hz": 5.0,
        "source_files": ["a.tif"],
        "package_versions": {"x": "1"},
    }
    write_activity(tmp_path / "a.h5", dff, np.arange(20) / 5.0, np.zeros((3, 3)), np.ones(3), attrs)
    data = read_activity(tmp_path / "a.h5")
    assert np.array_equal(data["dff"], dff) and data["dff"].dtype == np.float32
    assert data["attrs"]["source_files"] == ["a.tif"] and data["attrs"]["n_neurons"] == 3
    with pytest.raises(ValueError, match="zero neurons"):
        write_activity(
            tmp_path / "b.h5",
            np.zeros((0, 20)),
            np.arange(20),
            np.zeros((0, 3)),
            np.zeros(0),
            attrs,
        )
    bad = dff.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        write_activity(tmp_path / "b.h5", bad, np.arange(20), np.zeros((3, 3)), np.ones(3), attrs)
    with pytest.raises(ValueError, match="positions has shape"):
        write_activity(tmp_path / "b.h5", dff, np.arange(20), np.zeros((3, 2)), np.ones(3), attrs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5"]


def fake_plane(folder, traces, centers, probability):
    """A suite2p plane folder whose ROIs are disks at ``centers`` with F = 100 (1 + traces)."""
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[-4:5, -4:5]
    inside = yy**2 + xx**2 <= 16
    stat = np.array(
        [
            {
                "ypix": yy[inside] + cy,
                "xpix": xx[inside] + cx,
                "med": [cy, cx],
                "lam": np.ones(inside.sum()),
            }
            for cy, cx in centers
        ]
    )
    np.save(folder / "F.npy", (100 * (1 + traces) + 35).astype(np.float32))
    np.save(folder / "Fneu.npy", np.full(traces.shape, 50, np.float32))
    np.save(folder / "iscell.npy", np.column_stack([np.asarray(probability) > 0.5, probability]))
    np.save(folder / "stat.npy", stat, allow_pickle=True)
    np.save(folder / "ops.npy", {"meanImg": np.ones((64, 64))}, allow_pickle=True)


def test_two_plane_suite2p_folder_merges_the_shared_soma(settings, tmp_path):
    rng = np.random.default_rng(0)
    kernel = np.exp(-np.arange(40) / 10.0)
    truth = np.array([np.convolve(rng.random(600) < 0.02, kernel)[:600] for _ in range(4)])
    noise = lambda: rng.normal(0, 0.02, 600)  # noqa: E731
    fake_plane(
        tmp_path / "s2p" / "plane0",
        np.array([truth[0] + noise(), truth[1] + noise()]),
        [(20, 20), (40, 40)],
        [0.9, 0.8],
    )
    fake_plane(
        tmp_path / "s2p" / "plane1",
        np.array([0.4 * truth[0] + noise(), truth[2] + noise(), truth[3] + noise()]),
        [(21, 20), (10, 50), (50, 10)],
        [0.7, 0.9, 0.2],
    )
    session = {
        "name": "two",
        "source": "suite2p",
        "path": "s2p",
        "fs_hz": 10.0,
        "classifier_threshold": 0.5,
    }
    activity, metrics = run(settings, tmp_path, session, suite2p_folder=tmp_path / "s2p")
    assert metrics["n_rois"] == 5 and metrics["n_cells"] == 4 and metrics["n_neurons"] == 3
    assert metrics["n_merged"] == 1
    assert activity["dff"].shape == (3, 600)
    assert activity["positions"].tolist() == [[0, 20, 20], [0, 40, 40], [1, 10, 50]]
    assert activity["merged_rois"].tolist() == [2, 1, 1]
    assert np.allclose(activity["cell_probability"], [0.9, 0.8, 0.9])
    for row, k in zip(activity["dff"], [0, 1, 2], strict=True):
        assert np.corrcoef(row, truth[k])[0, 1] > 0.95
    attrs = activity["attrs"]
    assert attrs["session"] == "two" and len(attrs["config_hash"]) == 16
    assert "suite2p" in attrs["package_versions"] and len(attrs["source_files"]) == 8
    assert np.allclose(np.diff(activity["time_s"]), 0.1)


def test_traces_with_nan_frames_are_masked_and_counted(settings, tmp_path):
    rng = np.random.default_rng(1)
    traces = 200 + rng.normal(0, 2, (5, 300))
    traces[:, 100] = np.nan
    traces[2, 150] = np.nan
    np.save(tmp_path / "t.npy", traces)
    session = {"name": "t", "source": "traces", "path": "t.npy", "fs_hz": 2.0}
    activity, metrics = run(settings, tmp_path, session, traces=tmp_path / "t.npy")
    assert metrics["masked_frames"] == 2 and activity["attrs"]["masked_frames"] == 2
    assert np.flatnonzero(~activity["frame_valid"]).tolist() == [100, 150]
    assert np.isfinite(activity["dff"]).all() and np.isnan(activity["positions"]).all()


def test_all_nan_traces_fail_and_write_nothing(settings, tmp_path):
    np.save(tmp_path / "t.npy", np.full((3, 50), np.nan))
    session = {"name": "t", "source": "traces", "path": "t.npy", "fs_hz": 2.0}
    with pytest.raises(ValueError, match="t.npy: row\\(s\\) \\[0, 1, 2\\] hold no finite value"):
        run(settings, tmp_path, session, traces=tmp_path / "t.npy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npy"]


@pytest.mark.skipif(not PYNAPPLE.exists(), reason=f"real suite2p folder absent: {PYNAPPLE}")
def test_real_suite2p_folder(settings, tmp_path):
    session = {"name": "pynapple", "source": "suite2p", "path": "x", "fs_hz": 10.0}
    activity, metrics = run(settings, tmp_path, session, suite2p_folder=PYNAPPLE)
    dff = activity["dff"]
    assert dff.shape == (20, 2000) and np.isfinite(dff).all()  # iscell filtering: 20 of 219
    assert metrics["n_rois"] == 219 and metrics["n_neurons"] == 20
    assert activity["time_s"][-1] == pytest.approx(199.9)
    low = activity["low_baseline"]
    assert low.sum() <= 1  # one dim ROI whose neuropil outshines it gets the floor, flagged
    good = dff[~low]
    assert np.all(activity["baseline"][~low] > 10)  # F − 0.7 Fneu baseline in raw units
    assert np.all(np.abs(np.percentile(good, 10, axis=1)) < 0.05)  # ΔF/F rests near zero
    assert np.all(np.median(good, axis=1) < 0.2) and np.all(good.max(axis=1) > 0.1)


@pytest.mark.skipif(not ZEBRAFISH.exists(), reason=f"zebrafish traces absent: {ZEBRAFISH}")
def test_real_traces_file(settings, tmp_path):
    session = {"name": "zebrafish", "source": "traces", "path": "x", "fs_hz": 1.0 / 0.9}
    activity, metrics = run(settings, tmp_path, session, traces=ZEBRAFISH)
    assert activity["dff"].shape == (522, 620) and np.isfinite(activity["dff"]).all()
    assert metrics["masked_frames"] == 0 and metrics["n_low_baseline"] == 0
    assert np.all(activity["baseline"] > 400)  # raw fluorescence ranges 490 to 55,600
    assert np.all(np.percentile(activity["dff"], 5, axis=1) > -0.5)
