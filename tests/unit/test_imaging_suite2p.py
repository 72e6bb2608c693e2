"""suite2p 1.1 on one small simulated plane, through the API calls the workflow uses.

Importing suite2p takes about 13 s; the run itself a few seconds on one thread.
"""

from pathlib import Path

import numpy as np
import pytest
from neurocircuit.config import validate_config
from neurocircuit.imaging.evaluate import match_positions
from neurocircuit.imaging.planes import split_movie_into_planes
from neurocircuit.imaging.synthetic import simulate_volumetric_recording

ROOT = Path(__file__).resolve().parents[2]
SPEC = dict(
    n_planes=1, height=64, width=64, n_volumes=250, n_neurons=12, motion_max_px=3, event_rate_hz=0.6
)  # short recording: more events so that every soma is active


@pytest.fixture(scope="module")
def params():
    config = validate_config({}, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    return {
        **config["imaging"]["suite2p"],
        "nonrigid": False,
        "neuropil_coefficient": 0.7,
        "bin_size": 3,
    }


@pytest.fixture(scope="module")
def plane_run(tmp_path_factory, params):
    pytest.importorskip("suite2p")
    from neurocircuit.imaging.suite2p_plane import run_suite2p_plane

    tmp = tmp_path_factory.mktemp("s2p")
    recording = simulate_volumetric_recording(tmp / "m.tif", tmp / "t.h5", SPEC, seed=3)
    import tifffile

    movie = tifffile.imread(tmp / "m.tif")
    movie[[40, 41]] = np.iinfo(np.int16).max  # two saturated frames
    tifffile.imwrite(tmp / "m.tif", movie, photometric="minisblack")
    split_movie_into_planes(tmp / "m.tif", tmp / "planes", 1, volume_rate_hz=10.0)
    out = tmp / "plane0"
    summary = run_suite2p_plane(tmp / "planes", 0, out, params, device="cpu", threads=1)
    return recording, out, summary


def test_plane_folder_is_complete_and_clean(plane_run):
    _, out, summary = plane_run
    for name in ("F.npy", "Fneu.npy", "iscell.npy", "stat.npy", "ops.npy"):
        assert (out / name).exists()
    assert not (out / "data.bin").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no work folder left
    F = np.load(out / "F.npy")
    assert F.shape == (summary["n_rois"], 250) and np.isfinite(F).all()
    assert np.load(out / "bad_frames.npy").tolist() == [40, 41]
    ops = np.load(out / "ops.npy", allow_pickle=True).item()
    assert ops["meanImg"].shape == (64, 64) and ops["registration"]["nimg_init"] == 250
    assert ops["torch_device"] == "cpu"


def test_suite2p_finds_the_simulated_somata(plane_run):
    recording, out, _ = plane_run
    stat = np.load(out / "stat.npy", allow_pickle=True)
    found = np.array([[0.0, *s["med"]] for s in stat])
    f_idx, _ = match_positions(found, recording.positions, radius_px=5.0)
    assert len(f_idx) >= 0.8 * len(recording.positions)


def test_bad_plane_index_is_a_clear_error(plane_run, params, tmp_path):
    from neurocircuit.imaging.suite2p_plane import run_suite2p_plane

    planes = plane_run[1].parent / "planes"
    with pytest.raises(ValueError, match="plane 3 requested but the movie has 1 planes"):
        run_suite2p_plane(planes, 3, tmp_path / "x", params, device="cpu")
