"""SHD files for tests: the published HDF5 layout, written from small made-up events."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def write_shd(
    path: str | Path,
    times: list[np.ndarray],
    units: list[np.ndarray],
    labels: np.ndarray,
    speakers: np.ndarray | None = None,
) -> Path:
    """Write an SHD-layout HDF5 file (variable-length ``spikes/times`` as float16 seconds and
    ``spikes/units`` as uint16, ``labels`` uint16, ``extra/speaker``), as the published files
    store them (what neurocircuit.data.shd.read_shd reads)."""
    path = Path(path)
    with h5py.File(path, "w") as h5:
        spikes = h5.create_group("spikes")
        times_ds = spikes.create_dataset(
            "times", (len(times),), dtype=h5py.vlen_dtype(np.dtype("float16"))
        )
        units_ds = spikes.create_dataset(
            "units", (len(units),), dtype=h5py.vlen_dtype(np.dtype("uint16"))
        )
        for i, (t, u) in enumerate(zip(times, units, strict=True)):
            times_ds[i] = np.asarray(t, dtype=np.float16)
            units_ds[i] = np.asarray(u, dtype=np.uint16)
        h5.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        extra = h5.create_group("extra")
        if speakers is None:
            speakers = np.zeros(len(labels), dtype=np.uint16)
        extra.create_dataset("speaker", data=np.asarray(speakers, dtype=np.uint16))
    return path
