"""MNIST and Fashion-MNIST in their official idx format, gzipped or not.

The idx format (LeCun et al.): two zero bytes, a type code (0x08 = unsigned byte, ...), the number
of dimensions, then one big-endian uint32 per dimension, then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurocircuit.download import ChecksumError

IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


@dataclass(frozen=True)
class ImageData:
    """Train and test images (N, H, W) uint8 and labels (N,) int64 of an image data set."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    n_classes: int


def read_idx_bytes(path: str | Path) -> bytes:
    """The uncompressed bytes of an idx file (``.gz`` decompressed), with clear errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: idx file not found")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
        raise ValueError(f"{path}: truncated or corrupt gzip file ({error})") from None


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode idx ``data`` into a native-endian array; ``source`` names it in errors."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise ValueError(f"{source}: not an idx file (bad magic number {data[:4].hex()!r})")
    dtype = IDX_TYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"{source}: truncated idx header")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "longer than its header says"
        raise ValueError(
            f"{source}: idx file {kind} (header says shape {shape}, {expected} bytes; "
            f"the file has {len(data)} bytes)"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: str | Path, content_md5: str | None = None) -> np.ndarray:
    """Read one idx file (``.gz`` or raw); with ``content_md5``, check the uncompressed bytes."""
    data = read_idx_bytes(path)
    if content_md5 is not None:
        actual = hashlib.md5(data).hexdigest()
        if actual != content_md5:
            raise ChecksumError(
                f"{path}: checksum mismatch of the uncompressed content (MD5 {actual}, expected "
                f"{content_md5}); the file is corrupt or not the published one"
            )
    return parse_idx(data, str(path))


def load_idx_dataset(
    files: dict[str, str | Path],
    *,
    n_classes: int = 10,
    content_md5: dict[str, str | None] | None = None,
) -> ImageData:
    """Load the four idx files of MNIST or Fashion-MNIST.

    ``files`` maps ``train_images``, ``train_labels``, ``test_images``, ``test_labels`` to paths
    (gzipped or not); ``content_md5`` optionally maps the same roles to the MD5 of the
    uncompressed content.
    """
    roles = ("train_images", "train_labels", "test_images", "test_labels")
    missing = [role for role in roles if role not in files]
    if missing:
        raise ValueError(f"load_idx_dataset: no path given for {', '.join(missing)}")
    arrays = {}
    for role in roles:
        expected = (content_md5 or {}).get(role)
        arrays[role] = read_idx(files[role], expected)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        image_path, label_path = files[f"{split}_images"], files[f"{split}_labels"]
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(
                f"{image_path}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}"
            )
        if labels.ndim != 1:
            raise ValueError(f"{label_path}: expected labels (N,), got shape {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(
                f"{image_path} has {len(images)} images but {label_path} has {len(labels)} labels"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"{label_path}: labels outside 0..{n_classes - 1}")
    return ImageData(
        train_images=arrays["train_images"],
        train_labels=arrays["train_labels"].astype(np.int64),
        test_images=arrays["test_images"],
        test_labels=arrays["test_labels"].astype(np.int64),
        n_classes=n_classes,
    )
