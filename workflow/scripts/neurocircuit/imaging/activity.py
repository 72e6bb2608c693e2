"""The activity file every later stage reads: ``results/imaging/{session}/activity.h5``.

Datasets (neurons = rows, one neuron per row; frames = imaging volumes):

- ``dff``              (neurons, frames) float32: ΔF/F; masked frames interpolated (see below)
- ``time_s``           (frames,) float64: time of each volume in seconds
- ``positions``        (neurons, 3) float32: (plane, y px, x px); NaN when unknown (traces)
- ``cell_probability`` (neurons,) float32: suite2p classifier probability; NaN when unknown
- ``frame_valid``      (frames,) bool: False where the frame was NaN/saturated and masked
- ``baseline``         (neurons,) float32: median F0 of the neuropil-corrected trace
- ``roi_index``        (neurons,) int32: row of the kept ROI in its plane's suite2p output
- ``merged_rois``      (neurons,) int32: how many ROIs (planes) were merged into the row
- ``low_baseline``     (neurons,) bool: the near-zero-baseline floor was applied (see dff)
- ``truth_index``      (neurons,) int32, synthetic sessions only: the simulated neuron each row
  matches in the ground truth (imaging.evaluate's matching), -1 when none

Attributes: session, source, fs_hz, n_frames, n_neurons, masked_frames, config_hash,
package_versions (JSON), source_files (JSON list), and the ΔF/F settings used.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neurocircuit.runtime import atomic_path

REQUIRED = ("dff", "time_s", "positions", "cell_probability")


def write_activity(
    path: str | Path,
    dff: np.ndarray,
    time_s: np.ndarray,
    positions: np.ndarray,
    cell_probability: np.ndarray,
    attrs: dict,
    extra: dict | None = None,
) -> None:
    """Write the activity file atomically (see the module docstring for the layout)."""
    import h5py

    dff = np.asarray(dff, dtype=np.float32)
    n, t = dff.shape
    if n == 0:
        raise ValueError(f"{path}: refusing to write an activity file with zero neurons")
    if not np.isfinite(dff).all():
        raise ValueError(f"{path}: ΔF/F holds non-finite values; refusing to write")
    checks = {"time_s": (t,), "positions": (n, 3), "cell_probability": (n,)}
    arrays = {"time_s": time_s, "positions": positions, "cell_probability": cell_probability}
    for name, shape in checks.items():
        if np.shape(arrays[name]) != shape:
            raise ValueError(f"{path}: {name} has shape {np.shape(arrays[name])}, expected {shape}")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.create_dataset("dff", data=dff, compression="gzip", shuffle=True)
            h5.create_dataset("time_s", data=np.asarray(time_s, dtype=np.float64))
            h5.create_dataset("positions", data=np.asarray(positions, dtype=np.float32))
            h5["positions"].attrs["columns"] = "plane,y_px,x_px"
            h5.create_dataset("cell_probability", data=np.asarray(cell_probability, np.float32))
            for name, value in (extra or {}).items():
                h5.create_dataset(name, data=value)
            for key, value in attrs.items():
                h5.attrs[key] = value if isinstance(value, (int, float, str)) else json.dumps(value)
            h5.attrs["n_neurons"] = n
            h5.attrs["n_frames"] = t


def read_activity(path: str | Path) -> dict:
    """Every dataset of an activity file as arrays, plus ``attrs`` (JSON attributes decoded)."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: activity file not found")
    with h5py.File(path, "r") as h5:
        missing = [name for name in REQUIRED if name not in h5]
        if missing:
            raise ValueError(f"{path}: not an activity file (missing {', '.join(missing)})")
        data = {name: h5[name][()] for name in h5.keys()}
        attrs = {}
        for key, value in h5.attrs.items():
            if isinstance(value, str) and value[:1] in "[{":
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    pass
            attrs[key] = value.item() if isinstance(value, np.generic) else value
    data["attrs"] = attrs
    return data
