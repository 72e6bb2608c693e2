"""NWB in and out: raw TwoPhotonSeries and processed ophys files written by pynwb itself, read by
the imaging stage; activity.nwb written by it, checked by nwbinspector and read back.

The route from a raw NWB volume through suite2p is scored against the simulated ground truth
like the TIFF route (recall >= 0.8, median correlation >= 0.85). Every bad input is one line
naming the file, and leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers.nwb_files import (
    assert_same_activity,
    serious_inspector_messages,
    write_nwb_without_ophys,
    write_processed_nwb,
    write_two_photon_nwb,
)
from neurocircuit.config import validate_config
from neurocircuit.imaging import nwb_input
from neurocircuit.imaging.activity import read_activity
from neurocircuit.imaging.nwb_input import nwb_session_plan, open_nwb, open_nwb_movie
from neurocircuit.imaging.nwb_traces import load_nwb_traces
from neurocircuit.imaging.pipeline import build_session_activity
from neurocircuit.imaging.planes import read_movie_info, split_movie_into_planes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def settings():
    config = validate_config({}, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    return {k: v for k, v in config["imaging"].items() if k != "sessions"}


@pytest.fixture
def stack():
    rng = np.random.default_rng(0)
    return rng.integers(0, 1000, size=(12, 3, 8, 10)).astype(np.int16)  # volumes, planes, y, x


def one_line(info) -> str:
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    return message


# ---------------------------------------------------------------- config
def validate_sessions(sessions: list[dict]) -> dict:
    from neurocircuit.imaging.sessions import session_table

    schema = ROOT / "workflow" / "schemas" / "config.schema.yaml"
    return session_table(validate_config({"imaging": {"sessions": sessions}}, schema)["imaging"])


MOUSE = {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"}


def test_nwb_session_keys_in_the_config():
    from neurocircuit.config import ConfigError

    table = validate_sessions(
        [
            {"name": "a", "source": "nwb", "path": "a.nwb"},  # rate and planes: the file's
            {"name": "b", "source": "nwb", "path": "b.nwb", "nwb_series": ["P0", "P1"]},
            {"name": "c", "source": "nwb", "path": "c.nwb", "subject": MOUSE},
        ]
    )
    assert list(table) == ["a", "b", "c"]
    bad = [
        ({"name": "t", "source": "tiff", "path": "t.tif", "n_planes": 1}, "'fs_hz' is a required"),
        ({"name": "n", "source": "nwb"}, "'path' is a required"),
        ({"name": "n", "source": "nwb", "path": "n", "subject": {"sex": "M"}}, "subject_id"),
        ({"name": "n", "source": "nwb", "path": "n", "nwb_series": 3}, "nwb_series"),
    ]
    for session, message in bad:
        with pytest.raises(ConfigError, match=message):
            validate_sessions([session])
    with pytest.raises(ValueError, match="'n': start_time: 'May 1st' is not an ISO 8601"):
        validate_sessions([{"name": "n", "source": "nwb", "path": "n", "start_time": "May 1st"}])


# ---------------------------------------------------------------- raw movies
@pytest.mark.parametrize("layout", ["zstack", "interleaved", "per_plane"])
def test_raw_layouts_read_back_plane_by_plane(tmp_path, stack, layout, monkeypatch):
    path = write_two_photon_nwb(tmp_path / "m.nwb", stack, 10.0, layout)
    monkeypatch.setattr(nwb_input, "CHUNK_BYTES", 5 * 8 * 10 * 2)  # 5 frames a chunk
    movie = open_nwb_movie(path)  # planes and rate from the file alone
    assert (movie.n_volumes, movie.n_planes, movie.height, movie.width) == (12, 3, 8, 10)
    assert movie.volume_rate_hz == pytest.approx(10.0) and movie.layout == layout
    for plane in range(3):
        assert np.array_equal(movie.read_plane(plane), stack[:, plane])
    assert movie.metadata["subject"]["species"] == "Mus musculus"
    assert nwb_session_plan(path) == {"kind": "raw", "n_planes": 3}


def test_plane_count_and_rate_come_from_the_file(tmp_path, stack):
    zstack = write_two_photon_nwb(tmp_path / "z.nwb", stack, 10.0)
    assert open_nwb_movie(zstack, n_planes=3, fs_hz=10.0).n_planes == 3
    with pytest.raises(ValueError) as info:
        open_nwb_movie(zstack, n_planes=2)
    assert one_line(info) == (
        f"{zstack}: the file has 3 plane(s) (z axis of (12, 10, 8, 3)) but the session says "
        "n_planes: 2"
    )
    with pytest.raises(ValueError, match=r"z.nwb: the file's volume rate is 10 Hz .* fs_hz: 5"):
        open_nwb_movie(zstack, fs_hz=5.0)
    # An interleaved series whose imaging_rate is its frame rate says nothing of its planes.
    flat = write_two_photon_nwb(tmp_path / "i.nwb", stack, 10.0, "interleaved", imaging_rate=30.0)
    assert open_nwb_movie(flat).n_planes == 1 and open_nwb_movie(flat).n_volumes == 36
    movie = open_nwb_movie(flat, n_planes=3, fs_hz=10.0)
    assert np.array_equal(movie.read_plane(1), stack[:, 1])
    with pytest.raises(ValueError, match="36 frames of 'TwoPhotonSeries' do not divide into 5"):
        open_nwb_movie(flat, n_planes=5)


def test_split_of_an_nwb_movie_equals_the_split_of_the_same_tiff(tmp_path, stack):
    import tifffile

    tifffile.imwrite(tmp_path / "m.tif", stack.reshape(36, 8, 10), photometric="minisblack")
    nwb = write_two_photon_nwb(tmp_path / "m.nwb", stack, 10.0, "per_plane")
    from_tiff = split_movie_into_planes(tmp_path / "m.tif", tmp_path / "t", 3, 10.0)
    from_nwb = split_movie_into_planes(nwb, tmp_path / "n", None, None, fmt="nwb")
    for plane in range(3):
        name = f"plane{plane}_raw.bin"
        assert (tmp_path / "t" / name).read_bytes() == (tmp_path / "n" / name).read_bytes()
    for key in ("n_planes", "n_volumes", "height", "width", "volume_rate_hz", "bad_volumes"):
        assert from_nwb[key] == from_tiff[key]
    info = read_movie_info(tmp_path / "n")
    assert info["nwb_series"] == [f"TwoPhotonSeriesPlane{k}" for k in range(3)]
    assert info["nwb_metadata"]["subject"]["subject_id"] == "m1"


# ---------------------------------------------------------------- processed files
def disk(cy: float, cx: float, z: int, radius: int = 4) -> np.ndarray:
    """(x, y, z, weight) voxels of a disk of ``radius`` px centred on (cy, cx) in plane z."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    inside = yy**2 + xx**2 <= radius**2
    n = int(inside.sum())
    return np.column_stack([xx[inside] + cx, yy[inside] + cy, np.full(n, z), np.ones(n)])


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    """Four true traces; five ROIs in two planes, one soma seen in both, one not a cell."""
    rng = np.random.default_rng(0)
    kernel = np.exp(-np.arange(40) / 10.0)
    truth = np.array([np.convolve(rng.random(600) < 0.02, kernel)[:600] for _ in range(4)])
    noise = rng.normal(0, 0.02, (5, 600))
    signal = np.array([truth[0], truth[1], 0.4 * truth[0], truth[2], truth[3]]) + noise
    traces = 100 * (1 + signal) + 35
    neuropil = np.full_like(traces, 50.0)
    masks = [disk(20, 20, 0), disk(40, 40, 0), disk(21, 20, 1), disk(10, 50, 1), disk(50, 10, 1)]
    iscell = np.array([[1, 0.9], [1, 0.8], [1, 0.7], [1, 0.9], [0, 0.2]])
    return {
        "truth": truth,
        "traces": traces,
        "neuropil": neuropil,
        "masks": masks,
        "iscell": iscell,
    }


def run(settings, folder: Path, session: dict, **inputs):
    metrics = build_session_activity(
        session,
        settings,
        folder / "activity.h5",
        folder / "metrics.json",
        nwb_path=folder / "activity.nwb",
        **inputs,
    )
    return read_activity(folder / "activity.h5"), metrics


@pytest.mark.parametrize("per_plane_series", [False, True], ids=["one-series", "suite2p-planes"])
def test_processed_fluorescence_runs_like_a_suite2p_folder(
    settings, processed, tmp_path, per_plane_series
):
    planes = np.array([0, 0, 1, 1, 1]) if per_plane_series else None
    path = write_processed_nwb(
        tmp_path / "p.nwb",
        processed["traces"],
        processed["masks"],
        10.0,
        neuropil=processed["neuropil"],
        iscell=processed["iscell"],
        split_planes=planes,
    )
    session = {"name": "p", "source": "nwb", "path": "p.nwb", "classifier_threshold": 0.5}
    assert nwb_session_plan(path) == {"kind": "processed", "n_planes": None}
    activity, metrics = run(settings, tmp_path, session, nwb=path)
    assert (metrics["n_rois"], metrics["n_cells"], metrics["n_neurons"]) == (5, 4, 3)
    assert metrics["n_merged"] == 1 and metrics["fs_hz"] == 10.0
    assert activity["positions"].tolist() == [[0, 20, 20], [0, 40, 40], [1, 10, 50]]
    assert np.allclose(activity["cell_probability"], [0.9, 0.8, 0.9])
    assert np.allclose(activity["baseline"], [100, 100, 100], rtol=0.03)  # F − 0.7·Fneu
    for row, k in zip(activity["dff"], [0, 1, 2], strict=True):
        assert np.corrcoef(row, processed["truth"][k])[0, 1] > 0.95
    back = assert_same_activity(tmp_path / "activity.nwb", tmp_path / "activity.h5")
    assert back["merged_rois"].tolist() == [2, 1, 1]
    assert serious_inspector_messages(tmp_path / "activity.nwb") == []


def test_processed_without_neuropil_or_labels_and_dff_as_it_is(settings, processed, tmp_path):
    masks = processed["masks"]
    plain = write_processed_nwb(tmp_path / "f.nwb", processed["traces"], masks, 10.0)
    data = load_nwb_traces(plain)
    assert data.neuropil is None and np.isnan(data.probability).all() and data.is_cell.all()
    run(settings, tmp_path / "f", {"name": "f", "source": "nwb", "path": "f.nwb"}, nwb=plain)
    with open_nwb(tmp_path / "f" / "activity.nwb") as nwbfile:  # no made-up neuropil
        assert "Neuropil" not in nwbfile.processing["ophys"].data_interfaces
    dff = (processed["traces"] - 135.0) / 100.0
    dff[:, 7] = np.nan  # a dropped frame
    path = write_processed_nwb(tmp_path / "d.nwb", dff, masks, 5.0, kind="dff")
    session = {"name": "d", "source": "nwb", "path": "d.nwb", "fs_hz": 5.0}
    activity, metrics = run(settings, tmp_path, session, nwb=path)
    assert metrics["n_neurons"] == 5 and metrics["masked_frames"] == 1 and metrics["n_merged"] == 0
    assert np.flatnonzero(~activity["frame_valid"]).tolist() == [7]
    keep = np.ones(600, dtype=bool)
    keep[7] = False
    assert np.allclose(activity["dff"][:, keep], dff[:, keep], atol=1e-6)
    assert activity["positions"][3].tolist() == [1, 10, 50]
    assert np.isnan(activity["cell_probability"]).all()
    assert_same_activity(tmp_path / "activity.nwb", tmp_path / "activity.h5")
    assert serious_inspector_messages(tmp_path / "activity.nwb") == []


def test_session_metadata_from_the_config_on_a_traces_session(settings, tmp_path):
    traces = 200 + np.random.default_rng(1).normal(0, 2, (4, 300))
    traces[:, 100:102] = np.nan  # two dropped frames: invalid_times
    np.save(tmp_path / "t.npy", traces)
    session = {
        "name": "t",
        "source": "traces",
        "path": "t.npy",
        "fs_hz": 2.0,
        "description": "Larval zebrafish, spontaneous activity",
        "start_time": "2022-02-23T10:15:00+01:00",
        "subject": {"subject_id": "fish3", "species": "Danio rerio", "sex": "U", "age": "P7D"},
        "location": "optic tectum",
        "indicator": "GCaMP6s",
    }
    run(settings, tmp_path, session, traces=tmp_path / "t.npy")
    path = tmp_path / "activity.nwb"
    with open_nwb(path) as nwbfile:
        assert nwbfile.session_description == session["description"]
        assert nwbfile.session_start_time.isoformat() == session["start_time"]
        assert nwbfile.subject.subject_id == "fish3" and nwbfile.subject.age == "P7D"
        plane = nwbfile.imaging_planes["ImagingPlane"]
        assert (plane.location, plane.indicator) == ("optic tectum", "GCaMP6s")
        ophys = nwbfile.processing["ophys"]
        assert sorted(ophys.data_interfaces) == ["DfOverF", "Fluorescence", "ImageSegmentation"]
        assert nwbfile.invalid_times.to_dataframe()[
            ["start_time", "stop_time"]
        ].values.tolist() == [[50.0, 51.0]]
    back = assert_same_activity(path, tmp_path / "activity.h5")
    assert np.flatnonzero(~back["frame_valid"]).tolist() == [100, 101]
    assert serious_inspector_messages(path) == []
    for bad, message in (
        ("yesterday", "is not an ISO 8601 date-time"),
        ("2999-01-01T00:00:00", "is in the future"),
    ):
        with pytest.raises(ValueError, match=f"session 't'.* {message}"):
            run(settings, tmp_path / "x", {**session, "start_time": bad}, traces=tmp_path / "t.npy")
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------- bad input
def left_behind(folder: Path, inputs: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in inputs)


def check_refused(tmp_path, settings, path: Path, session: dict, expected: str) -> None:
    """The split (raw route) and the activity job (processed route) both refuse ``path`` with
    one line naming it, and leave nothing behind."""
    inputs = {p.name for p in tmp_path.iterdir()}
    for call in (
        lambda: split_movie_into_planes(
            path, tmp_path / "planes", None, None, fmt="nwb", nwb_series=session.get("nwb_series")
        ),
        lambda: run(settings, tmp_path, {"name": "x", "source": "nwb", **session}, nwb=path),
    ):
        with pytest.raises(ValueError) as info:
            call()
        assert one_line(info).startswith(f"{path}: "), one_line(info)
        assert expected in one_line(info), one_line(info)
    assert left_behind(tmp_path, inputs) == []


def test_file_without_ophys_data(settings, tmp_path):
    path = write_nwb_without_ophys(tmp_path / "behaviour.nwb")
    check_refused(tmp_path, settings, path, {}, "no ")
    with pytest.raises(ValueError) as info:
        load_nwb_traces(path)
    assert one_line(info) == (
        f"{path}: no 'ophys' processing module and no imaging series in acquisition "
        "(processing modules: none); nothing to read"
    )
    with pytest.raises(ValueError) as info:
        open_nwb_movie(path)
    assert "no TwoPhotonSeries in acquisition (series in the file: none)" in one_line(info)


def test_series_with_the_wrong_number_of_dimensions(settings, stack, processed, tmp_path):
    # pynwb refuses to write such a series: a broken converter is mimicked by rewriting the data.
    raw = write_two_photon_nwb(tmp_path / "raw.nwb", stack, 10.0)
    with h5py.File(raw, "r+") as h5:
        del h5["acquisition/TwoPhotonSeries/data"]
        h5["acquisition/TwoPhotonSeries/data"] = np.zeros((12, 80), np.int16)
    with pytest.raises(ValueError) as info:
        split_movie_into_planes(raw, tmp_path / "planes", None, None, fmt="nwb")
    assert one_line(info) == (
        f"{raw}: series 'TwoPhotonSeries' has 2 dimensions (12, 80); expected 3 (frames, x, y; "
        "planes interleaved) or 4 (frames, x, y, z)"
    )
    done = write_processed_nwb(tmp_path / "p.nwb", processed["traces"], processed["masks"], 10.0)
    with h5py.File(done, "r+") as h5:
        name = "processing/ophys/Fluorescence/RoiResponseSeries/data"
        del h5[name]
        h5[name] = np.zeros((600, 5, 2))
    with pytest.raises(ValueError) as info:
        run(settings, tmp_path, {"name": "p", "source": "nwb", "path": "p.nwb"}, nwb=done)
    assert one_line(info) == (
        f"{done}: series 'RoiResponseSeries' has 3 dimensions (600, 5, 2); expected 2 "
        "(frames, rois)"
    )
    assert left_behind(tmp_path, {"raw.nwb", "p.nwb"}) == []


def test_requested_series_that_is_not_there(settings, stack, processed, tmp_path):
    raw = write_two_photon_nwb(tmp_path / "raw.nwb", stack, 10.0)
    with pytest.raises(ValueError) as info:
        split_movie_into_planes(raw, tmp_path / "planes", None, None, fmt="nwb", nwb_series="Zz")
    assert one_line(info) == (
        f"{raw}: no imaging series named 'Zz' (series in the file: TwoPhotonSeries)"
    )
    assert nwb_session_plan(raw, "Zz")["kind"] == "processed"  # the activity job says so too
    done = write_processed_nwb(tmp_path / "p.nwb", processed["traces"], processed["masks"], 10.0)
    session = {"name": "p", "source": "nwb", "path": "p.nwb", "nwb_series": "Fluorescence/p9"}
    with pytest.raises(ValueError) as info:
        run(settings, tmp_path, session, nwb=done)
    assert one_line(info) == (
        f"{done}: no series named 'Fluorescence/p9' (series in the file: "
        "Fluorescence/RoiResponseSeries); use container/series"
    )
    assert left_behind(tmp_path, {"raw.nwb", "p.nwb"}) == []


def test_file_that_is_not_hdf5(settings, tmp_path):
    path = tmp_path / "asset.nwb"
    path.write_text("<html>Access denied</html>\n")  # a failed download
    check_refused(tmp_path, settings, path, {}, "not an HDF5 file, so not an NWB file")
    assert nwb_session_plan(path, n_planes=2) == {"kind": "raw", "n_planes": 2}


# ---------------------------------------------------------------- the whole raw route
SPEC = dict(
    n_planes=2, height=64, width=64, n_volumes=250, n_neurons=14, event_rate_hz=0.6, motion_max_px=3
)


@pytest.mark.slow
def test_volumetric_nwb_through_suite2p_finds_the_simulated_neurons(settings, tmp_path):
    """A 4-D TwoPhotonSeries of the synthetic volume: split, suite2p per plane, ΔF/F, merge;
    scored against the ground truth like the TIFF route; activity.nwb valid and equal."""
    pytest.importorskip("suite2p")
    from neurocircuit.fit.recording import load_activity
    from neurocircuit.imaging.evaluate import score_against_truth
    from neurocircuit.imaging.suite2p_plane import run_suite2p_plane
    from neurocircuit.imaging.synthetic import SyntheticVolumeSpec, simulate_volume

    spec = SyntheticVolumeSpec(**SPEC)
    recording = simulate_volume(spec, seed=1)
    path = write_two_photon_nwb(tmp_path / "volume.nwb", recording.movie, spec.volume_rate_hz)
    split_movie_into_planes(path, tmp_path / "planes", None, None, fmt="nwb")
    params = {**settings["suite2p"], "nonrigid": False, "bin_size": 3, "nimg_init": 100}
    params["neuropil_coefficient"] = settings["neuropil_coefficient"]
    plane_F = []
    for plane in range(2):
        out = tmp_path / "suite2p" / f"plane{plane}"
        run_suite2p_plane(tmp_path / "planes", plane, out, params, device="cpu", threads=1)
        plane_F.append(out / "F.npy")
    session = {"name": "vol", "source": "nwb", "path": "volume.nwb"}
    activity, metrics = run(
        settings, tmp_path, session, planes_dir=tmp_path / "planes", plane_F=plane_F
    )
    assert metrics["fs_hz"] == spec.volume_rate_hz and metrics["n_frames"] == 250
    scores = score_against_truth(
        activity["dff"],
        activity["positions"],
        recording.positions,
        recording.dff,
        radius_px=spec.soma_radius_px,
    )
    print("NWB route:", {k: scores[k] for k in ("recall", "precision", "median_corr")})
    assert scores["recall"] >= 0.8 and scores["median_corr"] >= 0.85, scores
    nwb = tmp_path / "activity.nwb"
    assert serious_inspector_messages(nwb) == []
    back = assert_same_activity(nwb, tmp_path / "activity.h5")
    assert back["attrs"]["session"] == "vol"
    from_nwb, from_h5 = load_activity(nwb), load_activity(tmp_path / "activity.h5")
    assert np.array_equal(from_nwb.traces, from_h5.traces)
    assert from_nwb.frame_period_s == pytest.approx(from_h5.frame_period_s)
