"""Spiking Heidelberg Digits: small files in the exact published HDF5 layout (also gzipped and
zipped), binning into sparse tensors with golden values, and clear errors for bad files."""

import gzip
import shutil
import zipfile

import h5py
import numpy as np
import pytest
import torch
from helpers.shd import write_shd
from neurocircuit.data.shd import bin_dataset, bin_events, bin_indices, read_shd

TIMES = [np.array([0.0, 0.0125, 0.5, 0.75]), np.array([0.001, 0.999, 1.2]), np.array([])]
UNITS = [np.array([0, 699, 3, 3]), np.array([10, 20, 30]), np.array([], dtype=int)]
LABELS = np.array([0, 19, 7])
SPEAKERS = np.array([1, 2, 3])


@pytest.fixture
def shd_file(tmp_path):
    return write_shd(tmp_path / "shd_train.h5", TIMES, UNITS, LABELS, SPEAKERS)


def test_written_file_has_the_published_layout(shd_file):
    with h5py.File(shd_file, "r") as h5:
        assert set(h5) == {"spikes", "labels", "extra"}
        assert set(h5["spikes"]) == {"times", "units"}
        assert h5["spikes/times"].dtype.metadata["vlen"] == np.float16
        assert h5["spikes/units"].dtype.metadata["vlen"] == np.uint16
        assert h5["labels"].dtype == np.uint16
        assert h5["extra/speaker"][()].tolist() == [1, 2, 3]


def test_read_round_trip(shd_file):
    data = read_shd(shd_file)
    assert len(data) == 3
    assert data.labels.tolist() == [0, 19, 7]
    assert data.speakers.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(data.units[0], [0, 699, 3, 3])
    np.testing.assert_allclose(data.times[1], [0.001, 0.999, 1.2], rtol=1e-3)  # float16
    assert data.times[2].size == 0


@pytest.mark.parametrize("packing", ["gz", "zip"])
def test_compressed_files_as_published(shd_file, tmp_path, packing):
    if packing == "gz":
        packed = tmp_path / "shd_train.h5.gz"
        with open(shd_file, "rb") as src, gzip.open(packed, "wb") as dst:
            shutil.copyfileobj(src, dst)
    else:
        packed = tmp_path / "shd_train.h5.zip"
        with zipfile.ZipFile(packed, "w") as archive:
            archive.write(shd_file, "shd_train.h5")
    data = read_shd(packed)
    assert data.labels.tolist() == [0, 19, 7]


def test_bin_indices_golden_values():
    # 100 bins over 1 s (10 ms bins): 0 -> 0, 12.5 ms -> 1, 0.5 s -> 50, 0.999 s -> 99;
    # events at or after 1 s are dropped
    times = np.array([0.0, 0.0125, 0.5, 0.999, 1.0, 1.2])
    units = np.array([5, 6, 7, 8, 9, 10])
    flat = bin_indices(times, units, n_bins=100, duration_s=1.0, n_channels=700)
    assert flat.tolist() == [0 * 700 + 5, 1 * 700 + 6, 50 * 700 + 7, 99 * 700 + 8]
    # 20 bins over 0.5 s (25 ms bins): 0 and 12.5 ms both fall in bin 0, the rest is dropped
    flat = bin_indices(times, units, n_bins=20, duration_s=0.5, n_channels=700)
    assert flat.tolist() == [5, 6]


def test_bin_events_counts_repeated_events_as_a_sparse_tensor():
    sparse = bin_events(
        np.array([0.001, 0.002, 0.5]), np.array([3, 3, 4]), n_bins=10, duration_s=1.0
    )
    assert sparse.is_sparse and sparse.shape == (10, 700)
    dense = sparse.to_dense()
    assert dense[0, 3] == 2 and dense[5, 4] == 1 and dense.sum() == 3


def test_binned_batches_dense_and_sparse(shd_file):
    binned = bin_dataset(read_shd(shd_file), n_bins=100, duration_s=1.0)
    assert binned.offsets.tolist() == [0, 4, 6, 6]  # the 1.2 s event is dropped
    batch = binned.sparse_batch(np.array([1, 0]))
    assert batch.is_sparse and batch.shape == (100, 2, 700)
    dense = binned.dense_batch(np.array([1, 0]))
    assert torch.equal(batch.to_dense(), dense)
    expected = torch.zeros(100, 2, 700)
    expected[0, 1, 0] = expected[1, 1, 699] = 1  # sample 0 is batch column 1
    expected[50, 1, 3] = expected[75, 1, 3] = 1
    expected[0, 0, 10] = expected[99, 0, 20] = 1  # 0.999 s in float16 is 0.99902
    assert torch.equal(dense, expected)
    assert binned.subset(np.array([2])).dense_batch(np.array([0])).sum() == 0


def test_truncated_file_is_a_clear_error(shd_file, tmp_path):
    broken = tmp_path / "shd_test.h5"
    broken.write_bytes(shd_file.read_bytes()[:300])
    with pytest.raises(ValueError, match="shd_test.h5: truncated or not an HDF5 file"):
        read_shd(broken)


def test_truncated_gzip_is_a_clear_error(shd_file, tmp_path):
    packed = tmp_path / "shd_test.h5.gz"
    packed.write_bytes(gzip.compress(shd_file.read_bytes())[:200])
    with pytest.raises(ValueError, match="shd_test.h5.gz: truncated or not an HDF5 file"):
        read_shd(packed)


def test_file_without_spikes_is_rejected(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        h5["labels"] = np.zeros(3, dtype=np.uint16)
    with pytest.raises(ValueError, match="not an SHD file \\(no 'spikes/times' dataset\\)"):
        read_shd(path)


def test_units_out_of_range_are_rejected(tmp_path):
    path = write_shd(tmp_path / "bad.h5", [np.array([0.1])], [np.array([700])], np.array([0]))
    with pytest.raises(ValueError, match="units outside 0..699"):
        read_shd(path)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="shd_train.h5"):
        read_shd(tmp_path / "shd_train.h5")
