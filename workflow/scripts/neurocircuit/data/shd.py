"""Spiking Heidelberg Digits (Cramer et al. 2020): the published HDF5 files and their binning.

Layout of ``shd_train.h5`` / ``shd_test.h5`` (as published, optionally ``.gz`` or ``.zip``):
``spikes/times`` (variable-length float, seconds), ``spikes/units`` (variable-length integers,
0..699), ``labels`` (N,) in 0..19, ``extra/speaker`` (N,). Binning puts the events of each sample
into T bins over a fixed duration (default 100 bins over 1.0 s, so 10 ms bins); events at or after
the duration are dropped, as in the SpyTorch SHD tutorial.
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

N_CHANNELS = 700
N_CLASSES = 20


@dataclass(frozen=True)
class ShdData:
    """Events of every sample: ``times[i]`` (s, float64) and ``units[i]`` (int64) per sample."""

    times: list[np.ndarray]
    units: list[np.ndarray]
    labels: np.ndarray
    speakers: np.ndarray | None

    def __len__(self) -> int:
        return len(self.labels)


def _open_h5(path: Path) -> h5py.File:
    """Open a ``.h5`` file, or the HDF5 inside a ``.gz`` / ``.zip`` file (in memory)."""
    name = path.name.lower()
    try:
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                return h5py.File(io.BytesIO(fh.read()), "r")
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if m.endswith(".h5")]
                if not members:
                    raise ValueError(f"{path}: the zip archive holds no .h5 file")
                return h5py.File(io.BytesIO(archive.read(members[0])), "r")
        return h5py.File(path, "r")
    except (EOFError, gzip.BadGzipFile, zlib.error, zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{path}: truncated or not an HDF5 file ({error})") from None


def read_shd(path: str | Path, *, n_channels: int = N_CHANNELS, n_classes: int = N_CLASSES):
    """Read one SHD file into :class:`ShdData`, checking its layout and value ranges."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: SHD file not found")
    with _open_h5(path) as h5:
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in h5:
                raise ValueError(f"{path}: not an SHD file (no '{key}' dataset)")
        try:
            times = [np.asarray(t, dtype=np.float64) for t in h5["spikes/times"][()]]
            units = [np.asarray(u, dtype=np.int64) for u in h5["spikes/units"][()]]
            labels = np.asarray(h5["labels"][()], dtype=np.int64)
            speakers = (
                np.asarray(h5["extra/speaker"][()], dtype=np.int64)
                if "extra/speaker" in h5
                else None
            )
        except (OSError, ValueError, TypeError) as error:
            raise ValueError(f"{path}: unreadable SHD data ({error})") from None
    if not (len(times) == len(units) == len(labels)):
        raise ValueError(
            f"{path}: {len(times)} time arrays, {len(units)} unit arrays and {len(labels)} labels"
        )
    for i, (t, u) in enumerate(zip(times, units, strict=True)):
        if t.shape != u.shape:
            raise ValueError(f"{path}: sample {i} has {t.size} spike times but {u.size} units")
        if t.size and (not np.isfinite(t).all() or t.min() < 0):
            raise ValueError(f"{path}: sample {i} has negative or non-finite spike times")
        if u.size and (u.min() < 0 or u.max() >= n_channels):
            raise ValueError(f"{path}: sample {i} has units outside 0..{n_channels - 1}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{path}: labels outside 0..{n_classes - 1}")
    return ShdData(times=times, units=units, labels=labels, speakers=speakers)


def bin_indices(
    times: np.ndarray,
    units: np.ndarray,
    *,
    n_bins: int = 100,
    duration_s: float = 1.0,
    n_channels: int = N_CHANNELS,
) -> np.ndarray:
    """Flat indices ``bin * n_channels + unit`` of one sample's events (one entry per event).

    Bin of an event at time t (s): ``floor(t / duration_s * n_bins)``; events with
    ``t >= duration_s`` are dropped. Repeated indices mean several events in one bin.
    """
    if n_bins < 1 or duration_s <= 0:
        raise ValueError("bin_indices: n_bins must be >= 1 and duration_s > 0")
    times = np.asarray(times, dtype=np.float64)
    units = np.asarray(units, dtype=np.int64)
    bins = np.floor(times * (n_bins / duration_s)).astype(np.int64)
    keep = (bins >= 0) & (bins < n_bins)
    return bins[keep] * n_channels + units[keep]


def bin_events(
    times: np.ndarray,
    units: np.ndarray,
    *,
    n_bins: int = 100,
    duration_s: float = 1.0,
    n_channels: int = N_CHANNELS,
) -> torch.Tensor:
    """One sample as a coalesced sparse COO tensor (n_bins, n_channels) of event counts."""
    flat = bin_indices(times, units, n_bins=n_bins, duration_s=duration_s, n_channels=n_channels)
    flat_unique, counts = np.unique(flat, return_counts=True)
    indices = np.stack([flat_unique // n_channels, flat_unique % n_channels])
    return torch.sparse_coo_tensor(
        torch.from_numpy(indices),
        torch.from_numpy(counts.astype(np.float32)),
        (n_bins, n_channels),
        check_invariants=False,
    ).coalesce()


@dataclass(frozen=True)
class BinnedEvents:
    """All samples binned: flat event indices of sample i are ``indices[offsets[i]:offsets[i+1]]``.

    A compact ragged store (int32 indices, one per event) from which batches are built as sparse
    or dense (T, B, C) tensors.
    """

    indices: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    n_bins: int
    n_channels: int

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, samples: np.ndarray) -> BinnedEvents:
        """The samples ``samples`` only (a new store, same binning)."""
        samples = np.asarray(samples, dtype=np.int64)
        pieces = [self.indices[self.offsets[i] : self.offsets[i + 1]] for i in samples]
        lengths = np.array([len(p) for p in pieces], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        indices = np.concatenate(pieces) if pieces else np.zeros(0, np.int32)
        return BinnedEvents(indices, offsets, self.labels[samples], self.n_bins, self.n_channels)

    def sparse_batch(self, samples: np.ndarray) -> torch.Tensor:
        """Sparse COO tensor (T, B, C) of event counts for ``samples`` (coalesced)."""
        samples = np.asarray(samples, dtype=np.int64)
        starts, stops = self.offsets[samples], self.offsets[samples + 1]
        lengths = stops - starts
        flat = (
            np.concatenate([self.indices[a:b] for a, b in zip(starts, stops, strict=True)])
            if len(samples)
            else np.zeros(0, np.int64)
        ).astype(np.int64)
        batch = np.repeat(np.arange(len(samples)), lengths)
        indices = np.stack([flat // self.n_channels, batch, flat % self.n_channels])
        return torch.sparse_coo_tensor(
            torch.from_numpy(indices),
            torch.ones(indices.shape[1], dtype=torch.float32),
            (self.n_bins, len(samples), self.n_channels),
            check_invariants=False,
        ).coalesce()

    def dense_batch(self, samples: np.ndarray) -> torch.Tensor:
        """Dense float32 (T, B, C) event counts for ``samples``."""
        return self.sparse_batch(samples).to_dense()


def bin_dataset(
    data: ShdData,
    *,
    n_bins: int = 100,
    duration_s: float = 1.0,
    n_channels: int = N_CHANNELS,
) -> BinnedEvents:
    """Bin every sample of ``data`` into a :class:`BinnedEvents` store."""
    pieces = [
        bin_indices(t, u, n_bins=n_bins, duration_s=duration_s, n_channels=n_channels)
        for t, u in zip(data.times, data.units, strict=True)
    ]
    lengths = np.array([len(p) for p in pieces], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.concatenate(pieces).astype(np.int32) if pieces else np.zeros(0, np.int32)
    if n_bins * n_channels >= 2**31:
        raise ValueError("bin_dataset: n_bins * n_channels too large for int32 indices")
    return BinnedEvents(indices, offsets, data.labels.copy(), n_bins, n_channels)
