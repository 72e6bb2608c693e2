"""MNIST / Fashion-MNIST idx files: official format (gzipped and raw), where the workflow finds
them, checksums, and clear errors for truncated, corrupt or mismatched files."""

import dataclasses
import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from helpers.idx import write_idx
from neurocircuit.data.idx import load_idx_dataset, parse_idx, read_idx
from neurocircuit.data.registry import (
    FASHION_MNIST,
    MNIST,
    describe_missing,
    download_paths,
    locate_files,
)
from neurocircuit.download import ChecksumError

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def tiny_arrays(n_train=20, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_set(folder: Path, arrays: dict, gz: bool = True) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    return {role: write_idx(arrays[role], folder / (NAMES[role] + suffix)) for role in NAMES}


def test_header_bytes_follow_the_official_format(tmp_path):
    path = write_idx(np.arange(6, dtype=np.uint8).reshape(2, 3), tmp_path / "x-idx2-ubyte")
    data = path.read_bytes()
    # two zero bytes, type 0x08 (unsigned byte), 2 dimensions, then big-endian 2 and 3
    assert data[:4] == bytes([0, 0, 8, 2])
    assert data[4:12] == bytes([0, 0, 0, 2, 0, 0, 0, 3])
    assert data[12:] == bytes(range(6))


def test_golden_label_file_as_published():
    # The first bytes of the official t10k-labels-idx1-ubyte: magic 2049, 10000 items, 7 2 1 0 4
    header = (2049).to_bytes(4, "big") + (5).to_bytes(4, "big")
    labels = parse_idx(header + bytes([7, 2, 1, 0, 4]))
    assert labels.tolist() == [7, 2, 1, 0, 4]


def test_multibyte_types_are_big_endian():
    header = bytes([0, 0, 0x0C, 1]) + (2).to_bytes(4, "big")
    values = parse_idx(header + (1).to_bytes(4, "big") + (-2).to_bytes(4, "big", signed=True))
    assert values.tolist() == [1, -2]
    assert values.dtype.byteorder in ("=", "|")


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "raw"])
def test_round_trip_gzipped_and_raw(tmp_path, gz):
    arrays = tiny_arrays()
    files = write_set(tmp_path, arrays, gz=gz)
    data = load_idx_dataset(files)
    np.testing.assert_array_equal(data.train_images, arrays["train_images"])
    np.testing.assert_array_equal(data.test_labels, arrays["test_labels"])
    assert data.train_labels.dtype == np.int64


def test_content_checksum_is_checked_on_uncompressed_bytes(tmp_path):
    arrays = tiny_arrays()
    files = write_set(tmp_path, arrays, gz=True)
    raw = gzip.decompress(files["train_labels"].read_bytes())
    good = {"train_labels": hashlib.md5(raw).hexdigest()}
    load_idx_dataset(files, content_md5=good)  # recompression does not matter
    with pytest.raises(ChecksumError, match="train-labels-idx1-ubyte.gz: checksum mismatch"):
        load_idx_dataset(files, content_md5={"train_labels": "0" * 32})


def test_truncated_raw_file_is_a_clear_error(tmp_path):
    files = write_set(tmp_path, tiny_arrays(), gz=False)
    path = files["train_images"]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: idx file truncated"):
        load_idx_dataset(files)


def test_truncated_gzip_file_is_a_clear_error(tmp_path):
    files = write_set(tmp_path, tiny_arrays(), gz=True)
    path = files["test_images"]
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz: truncated or corrupt gzip"):
        load_idx_dataset(files)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(ValueError, match="not an idx file"):
        read_idx(path)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here.gz"):
        read_idx(tmp_path / "nothing-here.gz")


def test_images_and_labels_must_agree(tmp_path):
    arrays = tiny_arrays()
    arrays["train_labels"] = arrays["train_labels"][:-1]
    files = write_set(tmp_path, arrays)
    with pytest.raises(ValueError, match="has 20 images but .* has 19 labels"):
        load_idx_dataset(files)


def test_labels_out_of_range(tmp_path):
    arrays = tiny_arrays()
    arrays["test_labels"][0] = 12
    files = write_set(tmp_path, arrays)
    with pytest.raises(ValueError, match="labels outside 0..9"):
        load_idx_dataset(files)


def test_located_in_data_dir_subfolder_gzipped_or_not(tmp_path):
    write_set(tmp_path / "mnist", tiny_arrays(), gz=False)
    found = locate_files(MNIST, tmp_path, system_dirs=False)
    assert found == {role: tmp_path / "mnist" / NAMES[role] for role in NAMES}
    write_set(tmp_path / "fashion-mnist", tiny_arrays(), gz=True)
    found = locate_files(FASHION_MNIST, tmp_path, system_dirs=False)
    assert found["train_images"] == tmp_path / "fashion-mnist" / "train-images-idx3-ubyte.gz"


def test_incomplete_folder_is_not_used(tmp_path):
    files = write_set(tmp_path / "mnist", tiny_arrays())
    files["test_labels"].unlink()
    assert locate_files(MNIST, tmp_path, system_dirs=False) is None


def test_debian_folder_layout_is_accepted(tmp_path):
    debian = tmp_path / "usr" / "share" / "datasets" / "fashion-mnist"
    write_set(debian, tiny_arrays())
    spec = dataclasses.replace(FASHION_MNIST, system_dirs=(str(debian),))
    found = locate_files(spec, data_dir=None)
    assert found is not None and found["test_labels"].parent == debian
    assert FASHION_MNIST.system_dirs == ("/usr/share/datasets/fashion-mnist",)


def test_missing_message_says_which_files_go_where(tmp_path):
    message = describe_missing(MNIST, tmp_path, "resources")
    for name in NAMES.values():
        assert f"{name}.gz" in message
    assert str(tmp_path / "mnist") in message and "resources/mnist" in message
    expected = Path("res/mnist/train-images-idx3-ubyte.gz")
    assert download_paths(MNIST, "res")["train_images"] == expected


@pytest.mark.parametrize(
    ("spec", "folder", "train_counts"),
    [
        (MNIST, "mnist", [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
        (FASHION_MNIST, "fashion-mnist", [6000] * 10),
    ],
    ids=["mnist", "fashion_mnist"],
)
def test_real_files_load_and_match_published_checksums(spec, folder, train_counts):
    if not (SHARED_DATA / folder).is_dir():
        pytest.skip(f"real {folder} files absent ({SHARED_DATA / folder})")
    files = locate_files(spec, SHARED_DATA, system_dirs=False)
    assert files is not None
    data = load_idx_dataset(files, content_md5={f.role: f.content_md5 for f in spec.files})
    assert data.train_images.shape == (60000, 28, 28)
    assert data.test_images.shape == (10000, 28, 28)
    assert np.bincount(data.train_labels).tolist() == train_counts
    assert np.bincount(data.test_labels).sum() == 10000
    if spec is MNIST:
        assert data.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
