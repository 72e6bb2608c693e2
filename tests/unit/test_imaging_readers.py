"""Readers of what users have; every bad input is one clear line naming the file."""

import h5py
import numpy as np
import pytest
import tifffile
from neurocircuit.imaging.readers import (
    find_plane_folders,
    load_suite2p_folder,
    load_suite2p_plane,
    load_traces,
    open_movie,
)


def one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.fixture
def stack():
    rng = np.random.default_rng(0)
    return rng.integers(0, 1000, size=(12, 3, 8, 10)).astype(np.int16)  # volumes, planes, y, x


def test_interleaved_tiff_planes(tmp_path, stack):
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, stack.reshape(36, 8, 10), photometric="minisblack")
    movie = open_movie(path, n_planes=3)
    assert (movie.n_volumes, movie.n_planes, movie.height, movie.width) == (12, 3, 8, 10)
    for plane in range(3):
        assert np.array_equal(movie.read_plane(plane), stack[:, plane])


def test_four_d_tiff_and_h5(tmp_path, stack):
    tifffile.imwrite(tmp_path / "m.tif", stack, photometric="minisblack", metadata={"axes": "TZYX"})
    assert np.array_equal(open_movie(tmp_path / "m.tif", 3).read_plane(2), stack[:, 2])
    with h5py.File(tmp_path / "m.h5", "w") as h5:
        h5["mov"] = stack
        h5["flat"] = stack.reshape(36, 8, 10)
    assert np.array_equal(open_movie(tmp_path / "m.h5", 3, key="mov").read_plane(1), stack[:, 1])
    assert np.array_equal(open_movie(tmp_path / "m.h5", 3, key="flat").read_plane(1), stack[:, 1])


def test_missing_movie(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        open_movie(tmp_path / "nope.tif", 1)
    assert "nope.tif" in one_line(info) and "not found" in one_line(info)


def test_truncated_tiff(tmp_path, stack):
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, stack.reshape(36, 8, 10), photometric="minisblack")
    data = path.read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as info:
        open_movie(tmp_path / "cut.tif", 3)
    assert "cut.tif" in one_line(info) and "truncated" in one_line(info)


def test_not_a_tiff(tmp_path):
    (tmp_path / "junk.tif").write_bytes(b"this is not an image at all")
    with pytest.raises(ValueError) as info:
        open_movie(tmp_path / "junk.tif", 1)
    assert "junk.tif" in one_line(info) and "unreadable TIFF" in one_line(info)


def test_wrong_number_of_dimensions(tmp_path):
    tifffile.imwrite(tmp_path / "one.tif", np.zeros((8, 10), np.int16))
    with pytest.raises(ValueError) as info:
        open_movie(tmp_path / "one.tif", 1)
    assert "one.tif" in one_line(info) and "2 dimensions" in one_line(info)
    with h5py.File(tmp_path / "five.h5", "w") as h5:
        h5["data"] = np.zeros((2, 2, 2, 4, 4))
    with pytest.raises(ValueError, match="five.h5: movie has 5 dimensions"):
        open_movie(tmp_path / "five.h5", 2)


def test_colour_tiff_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((5, 8, 8, 3), np.uint8), photometric="rgb")
    with pytest.raises(ValueError, match="rgb.tif: 3 samples per pixel"):
        open_movie(tmp_path / "rgb.tif", 1)


def test_plane_count_must_divide_frames(tmp_path, stack):
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, stack.reshape(36, 8, 10)[:35], photometric="minisblack")
    with pytest.raises(ValueError) as info:
        open_movie(path, 3)
    assert "m.tif: 35 frames do not divide into 3 planes" in one_line(info)


def test_four_d_plane_count_mismatch_and_missing_h5_key(tmp_path, stack):
    with h5py.File(tmp_path / "m.h5", "w") as h5:
        h5["mov"] = stack
    with pytest.raises(ValueError, match="has 3 planes .* n_planes=2"):
        open_movie(tmp_path / "m.h5", 2, key="mov")
    with pytest.raises(ValueError, match="no dataset 'data' \\(found: mov\\)"):
        open_movie(tmp_path / "m.h5", 3)


def write_plane(folder, n_rois=4, n_frames=30, skip=()):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = {
        "F.npy": rng.uniform(100, 200, (n_rois, n_frames)).astype(np.float32),
        "Fneu.npy": rng.uniform(50, 60, (n_rois, n_frames)).astype(np.float32),
        "iscell.npy": np.column_stack([np.ones(n_rois), np.full(n_rois, 0.9)]),
    }
    for name, value in arrays.items():
        if name not in skip:
            np.save(folder / name, value)
    stat = np.array(
        [{"ypix": np.array([k, k]), "xpix": np.array([0, 1]), "med": [k, 0]} for k in range(n_rois)]
    )
    if "stat.npy" not in skip:
        np.save(folder / "stat.npy", stat, allow_pickle=True)


def test_suite2p_folder_layouts(tmp_path):
    write_plane(tmp_path / "suite2p" / "plane0")
    write_plane(tmp_path / "suite2p" / "plane1")
    (tmp_path / "suite2p" / "combined").mkdir()
    for root in (tmp_path, tmp_path / "suite2p"):
        assert [p.name for p in find_plane_folders(root)] == ["plane0", "plane1"]
    planes = load_suite2p_folder(tmp_path)
    assert [p.plane for p in planes] == [0, 1] and planes[1].F.shape == (4, 30)
    assert find_plane_folders(tmp_path / "suite2p" / "plane1") == [tmp_path / "suite2p" / "plane1"]


def test_suite2p_folder_without_F(tmp_path):
    write_plane(tmp_path / "plane0", skip=("F.npy",))
    with pytest.raises(FileNotFoundError) as info:
        load_suite2p_folder(tmp_path)
    assert "plane0: suite2p plane folder has no F.npy" in one_line(info)


def test_suite2p_inconsistent_planes(tmp_path):
    write_plane(tmp_path / "plane0", n_frames=30)
    write_plane(tmp_path / "plane1", n_frames=31)
    with pytest.raises(ValueError, match="different frame counts"):
        load_suite2p_folder(tmp_path)
    write_plane(tmp_path / "bad" / "plane0")
    np.save(tmp_path / "bad" / "plane0" / "iscell.npy", np.ones((3, 2)))
    with pytest.raises(ValueError, match="4 ROIs in F.npy but 3 in iscell.npy"):
        load_suite2p_plane(tmp_path / "bad" / "plane0")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: no suite2p plane folders"):
        find_plane_folders(tmp_path / "empty")


def test_traces_files(tmp_path):
    traces = np.arange(12.0).reshape(3, 4)
    np.save(tmp_path / "t.npy", traces)
    with h5py.File(tmp_path / "t.h5", "w") as h5:
        h5["F"] = traces
    assert np.array_equal(load_traces(tmp_path / "t.npy"), traces)
    assert np.array_equal(load_traces(tmp_path / "t.h5", key="F"), traces)
    np.save(tmp_path / "flat.npy", np.arange(5.0))
    with pytest.raises(ValueError, match="flat.npy: traces must be neurons × time"):
        load_traces(tmp_path / "flat.npy")
    (tmp_path / "t.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match="must be .npy or .h5"):
        load_traces(tmp_path / "t.csv")
    with pytest.raises(FileNotFoundError, match="absent.npy: traces file not found"):
        load_traces(tmp_path / "absent.npy")


def test_suite2p_folder_plane_count_must_match(tmp_path):
    for plane in (0, 1):
        write_plane(tmp_path / f"plane{plane}")
        np.save(tmp_path / f"plane{plane}" / "ops.npy", np.array({"nplanes": 3}), allow_pickle=True)
    with pytest.raises(ValueError) as info:
        load_suite2p_folder(tmp_path)
    assert "ops.npy says 3 planes but 2 plane folder(s) were found (plane0, plane1)" in one_line(
        info
    )
    for plane in (0, 1):
        (tmp_path / f"plane{plane}" / "ops.npy").unlink()
    with pytest.raises(ValueError) as info:
        load_suite2p_folder(tmp_path, n_planes=3)
    assert "2 plane folder(s) (plane0, plane1), but the session says n_planes: 3" in one_line(info)
    assert len(load_suite2p_folder(tmp_path, n_planes=2)) == 2
