"""Splitting a movie into per-plane suite2p binaries; NaN and saturated frames masked, counted."""

import h5py
import numpy as np
import pytest
import tifffile
from neurocircuit.imaging.planes import (
    fill_bad_frames,
    find_bad_frames,
    plane_binary_name,
    read_movie_info,
    split_movie_into_planes,
)


def read_plane(folder, plane, shape):
    return np.fromfile(folder / plane_binary_name(plane), dtype=np.int16).reshape(shape)


def test_split_writes_each_plane_exactly(tmp_path):
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 3000, size=(20, 3, 6, 7)).astype(np.int16)
    tifffile.imwrite(tmp_path / "m.tif", stack.reshape(60, 6, 7), photometric="minisblack")
    info = split_movie_into_planes(tmp_path / "m.tif", tmp_path / "planes", 3, volume_rate_hz=5.0)
    for plane in range(3):
        assert np.array_equal(read_plane(tmp_path / "planes", plane, (20, 6, 7)), stack[:, plane])
    assert info == read_movie_info(tmp_path / "planes")
    assert (
        info["masked_volumes"] == 0 and info["n_volumes"] == 20 and info["int16_scale"] == [1.0] * 3
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def test_nan_frames_are_masked_counted_and_filled_not_zeroed(tmp_path):
    rng = np.random.default_rng(1)
    movie = rng.uniform(100, 200, size=(30, 2, 5, 5)).astype(np.float32)
    movie[7, 1] = np.nan  # a whole frame dropped in plane 1
    movie[12, 0, 2, 3] = np.nan  # one NaN pixel in plane 0
    with h5py.File(tmp_path / "m.h5", "w") as h5:
        h5["data"] = movie
    info = split_movie_into_planes(tmp_path / "m.h5", tmp_path / "planes", 2, volume_rate_hz=2.0)
    assert info["bad_volumes"] == [7, 12] and info["masked_volumes"] == 2
    assert info["nan_frames"] == 2 and info["saturated_frames"] == 0
    plane1 = read_plane(tmp_path / "planes", 1, (30, 5, 5)).astype(float)
    scale = info["int16_scale"][1]
    assert np.all(plane1[7] > 0)
    assert np.allclose(plane1[7], plane1[6])  # nearest earlier good frame
    assert np.allclose(plane1[8] / scale, movie[8, 1], rtol=1e-3)


def test_saturated_frames_are_masked():
    frames = np.full((5, 10, 10), 1000, dtype=np.int16)
    frames[2, :5] = np.iinfo(np.int16).max  # half the frame at the ceiling
    frames[3, 0, 0] = np.iinfo(np.int16).max  # one hot pixel is not a saturated frame
    nan, saturated = find_bad_frames(frames, float(np.iinfo(np.int16).max), 0.01)
    assert not nan.any() and saturated.tolist() == [False, False, True, False, False]


def test_fill_bad_frames_uses_nearest_good_frame():
    frames = np.arange(5.0)[:, None, None] * np.ones((5, 2, 2))
    filled = fill_bad_frames(frames, np.array([True, False, True, True, False]))
    assert filled[:, 0, 0].tolist() == [1.0, 1.0, 1.0, 1.0, 4.0]


def test_wide_unsigned_data_is_scaled_into_int16(tmp_path):
    movie = np.linspace(0, 60000, 8 * 4 * 4).reshape(8, 4, 4).astype(np.uint16)
    tifffile.imwrite(tmp_path / "m.tif", movie, photometric="minisblack")
    info = split_movie_into_planes(
        tmp_path / "m.tif", tmp_path / "planes", 1, volume_rate_hz=1.0, max_saturated_fraction=1.0
    )
    plane = read_plane(tmp_path / "planes", 0, (8, 4, 4))
    assert info["int16_scale"][0] == pytest.approx(30000 / 60000)
    assert plane.max() == 30000 and np.all(np.diff(plane.ravel().astype(int)) >= 0)


def test_all_nan_movie_is_an_error_and_leaves_nothing(tmp_path):
    with h5py.File(tmp_path / "nan.h5", "w") as h5:
        h5["data"] = np.full((10, 4, 4), np.nan, dtype=np.float32)
    with pytest.raises(ValueError) as info:
        split_movie_into_planes(tmp_path / "nan.h5", tmp_path / "planes", 1, volume_rate_hz=1.0)
    message = str(info.value)
    assert (
        "nan.h5: all 10 frames of plane 0 are NaN or saturated" in message and "\n" not in message
    )
    assert list(tmp_path.iterdir()) == [tmp_path / "nan.h5"]


def test_too_many_masked_frames_is_an_error(tmp_path):
    movie = np.ones((10, 4, 4), dtype=np.float32)
    movie[:6] = np.nan
    with h5py.File(tmp_path / "m.h5", "w") as h5:
        h5["data"] = movie
    with pytest.raises(ValueError, match="6 of 10 volumes hold NaN .* max_masked_fraction=0.5"):
        split_movie_into_planes(tmp_path / "m.h5", tmp_path / "planes", 1, volume_rate_hz=1.0)
    assert not (tmp_path / "planes").exists()


def test_bad_movie_errors_name_the_file(tmp_path):
    tifffile.imwrite(tmp_path / "m.tif", np.zeros((10, 4, 4), np.int16), photometric="minisblack")
    with pytest.raises(ValueError, match="m.tif: 10 frames do not divide into 3 planes"):
        split_movie_into_planes(tmp_path / "m.tif", tmp_path / "planes", 3, volume_rate_hz=1.0)
    with pytest.raises(FileNotFoundError, match="missing.tif: movie file not found"):
        split_movie_into_planes(tmp_path / "missing.tif", tmp_path / "p", 1, volume_rate_hz=1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]
