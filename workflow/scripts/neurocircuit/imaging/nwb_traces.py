"""Processed NWB ophys data (``processing/ophys``) as traces with their ROIs' planes and pixels.

Which series (see ``nwb_input`` for the whole picture): the session's ``nwb_series`` names a
container (``Fluorescence``, ``DfOverF``), a ``container/series``, or a series name found in one
container only; unnamed, the ``Fluorescence`` container (else the only Fluorescence-type one that
is not ``Neuropil`` or ``Deconvolved``), else ``DfOverF``. The series of a container are joined
over ROIs when they cover disjoint ROIs with one frame count. ``Neuropil`` goes with
``Fluorescence`` series of the same names. Traces are (frames, rois) in NWB and come out as
rois × frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurocircuit.imaging.nwb_input import (
    check_rate,
    dimensions_error,
    open_nwb,
    series_names,
    series_rate,
    series_start,
    source_metadata,
)
from neurocircuit.imaging.readers import Suite2pPlane

NOT_FLUORESCENCE = ("Neuropil", "Deconvolved")


@dataclass
class NwbTraces:
    """ROI traces of a processed NWB file, one row per ROI.

    kind: "fluorescence" (``traces`` is raw F, ``neuropil`` its neuropil or None) or "dff"
    (``traces`` is ΔF/F). planes: (rois,) plane of each ROI; pixels: per ROI an (n, 4) array of
    (x = column, y = row, z, weight) (empty when the file has no mask); probability: (rois,)
    cell probability (NaN unknown); is_cell: (rois,) bool label.
    """

    path: Path
    kind: str
    series: tuple[str, ...]
    traces: np.ndarray
    neuropil: np.ndarray | None
    planes: np.ndarray
    pixels: list[np.ndarray]
    probability: np.ndarray
    is_cell: np.ndarray
    volume_rate_hz: float
    starting_time_s: float
    metadata: dict = field(default_factory=dict)

    @property
    def has_masks(self) -> bool:
        return any(len(p) for p in self.pixels)

    def as_planes(self) -> list[Suite2pPlane]:
        """The ROIs as one suite2p plane each (F, Fneu: zeros without neuropil, iscell, and
        stat with ypix, xpix, lam, med), for the steps suite2p folders go through."""
        planes = []
        for plane in np.unique(self.planes):
            rows = np.flatnonzero(self.planes == plane)
            stat = np.empty(len(rows), dtype=object)
            for i, row in enumerate(rows):
                x, y, _, weight = self.pixels[row].T
                med = roi_centre(self.pixels[row])[::-1].tolist()
                stat[i] = {"ypix": y.astype(int), "xpix": x.astype(int), "lam": weight, "med": med}
            F = self.traces[rows]
            Fneu = self.neuropil[rows] if self.neuropil is not None else np.zeros_like(F)
            iscell = np.column_stack([self.is_cell[rows], self.probability[rows]])
            planes.append(Suite2pPlane(self.path, int(plane), F, Fneu, iscell, stat, None))
        return planes


def roi_centre(pixels: np.ndarray) -> np.ndarray:
    """(x, y) of the ROI pixel closest to the median of its (n, 4) ``pixels``: suite2p's
    ``med`` (stats.median_pix), so that a suite2p ROI read from NWB sits where stat.npy puts it;
    (NaN, NaN) without pixels."""
    if not len(pixels):
        return np.full(2, np.nan)
    xy = np.asarray(pixels, dtype=np.float64)[:, :2]
    nearest = np.argmin(((xy - np.median(xy, axis=0)) ** 2).sum(axis=1))
    return xy[nearest]


def _containers(path: Path, nwbfile) -> dict:
    from pynwb.ophys import DfOverF, Fluorescence

    ophys = nwbfile.processing.get("ophys")
    if ophys is None:
        found = ", ".join(nwbfile.processing) or "none"
        raise ValueError(
            f"{path}: no 'ophys' processing module and no imaging series in acquisition "
            f"(processing modules: {found}); nothing to read"
        )
    containers = {
        name: c
        for name, c in ophys.data_interfaces.items()
        if isinstance(c, (Fluorescence, DfOverF))
    }
    if not containers:
        raise ValueError(
            f"{path}: the 'ophys' module has no Fluorescence or DfOverF "
            f"(it holds: {', '.join(ophys.data_interfaces) or 'nothing'})"
        )
    return containers


def _default_container(path: Path, containers: dict) -> str:
    from pynwb.ophys import Fluorescence

    if "Fluorescence" in containers:
        return "Fluorescence"
    fluorescence = [
        n
        for n, c in containers.items()
        if isinstance(c, Fluorescence) and n not in NOT_FLUORESCENCE
    ]
    if len(fluorescence) == 1:
        return fluorescence[0]
    if "DfOverF" in containers:
        return "DfOverF"
    raise ValueError(
        f"{path}: cannot tell which of {', '.join(containers)} to read; name it with nwb_series"
    )


def _select(path: Path, containers: dict, names: tuple[str, ...]) -> tuple[str, list]:
    """(container name, its chosen series) for the session's ``nwb_series``."""
    if not names:
        name = _default_container(path, containers)
        return name, list(containers[name].roi_response_series.values())
    chosen, owner = [], set()
    for name in names:
        container, _, series = name.partition("/")
        if container in containers and not series:
            owner.add(container)
            chosen += list(containers[container].roi_response_series.values())
            continue
        if series:
            known = container in containers and series in containers[container].roi_response_series
            matches = [container] if known else []
        else:
            series = name
            matches = [c for c in containers if series in containers[c].roi_response_series]
        if len(matches) != 1:
            listed = ", ".join(
                f"{c}/{s}" for c in containers for s in containers[c].roi_response_series
            )
            what = "no" if not matches else "more than one"
            raise ValueError(
                f"{path}: {what} series named '{name}' (series in the file: {listed}); "
                "use container/series"
            )
        owner.add(matches[0])
        chosen.append(containers[matches[0]].roi_response_series[series])
    if len(owner) > 1:
        raise ValueError(f"{path}: nwb_series mixes containers ({', '.join(sorted(owner))})")
    return owner.pop(), chosen


def _series_traces(path: Path, series) -> np.ndarray:
    """(rois, frames) float64 of a RoiResponseSeries, checked against its ROI region."""
    shape = tuple(int(s) for s in series.data.shape)
    if len(shape) not in (1, 2):
        raise dimensions_error(path, series.name, "RoiResponseSeries", shape)
    n_rois = len(series.rois.data)
    data = np.asarray(series.data[()], dtype=np.float64).reshape(shape[0], -1)
    if data.shape[1] != n_rois:
        raise ValueError(
            f"{path}: series '{series.name}' has shape {shape} but {n_rois} ROIs; NWB stores "
            "(frames, rois)"
        )
    return data.T


def _roi_pixels(table, row: int, plane: int) -> np.ndarray:
    """(n, 4) (x = column, y = row, z, weight) of one ROI from its voxel, pixel or image mask,
    read by the convention of ``nwb_input`` (pixel and voxel masks: row first, as suite2p and
    roiextractors write them; image masks: column first, like the schema's image series)."""
    columns = table.colnames
    if "voxel_mask" in columns:
        voxels = np.array([tuple(v) for v in table["voxel_mask"][row]], dtype=np.float64)
        return voxels.reshape(-1, 4)[:, [1, 0, 2, 3]]
    if "pixel_mask" in columns:
        pixels = np.array([tuple(p) for p in table["pixel_mask"][row]], dtype=np.float64)
        pixels = pixels.reshape(-1, 3)
        return np.column_stack([pixels[:, [1, 0]], np.full(len(pixels), plane), pixels[:, 2]])
    if "image_mask" in columns:
        image = np.asarray(table["image_mask"][row], dtype=np.float64)
        index = np.nonzero(image)
        z = index[2] if image.ndim == 3 else np.full(len(index[0]), plane)
        return np.column_stack([index[0], index[1], z, image[index]]).astype(np.float64)
    return np.zeros((0, 4))


def _labels(table, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probability, is_cell) of ``rows``: suite2p's iscell (label, probability), a
    cell_probability column, or unknown (NaN, all cells)."""
    if "iscell" in table.colnames:
        values = np.asarray(table["iscell"].data[:], dtype=np.float64)[rows]
        if values.ndim == 2 and values.shape[1] >= 2:
            return values[:, 1], values[:, 0] > 0.5
        values = values.reshape(len(rows))
        return values, values > 0.5
    if "cell_probability" in table.colnames:
        values = np.asarray(table["cell_probability"].data[:], dtype=np.float64)[rows]
        return values, ~(values < 0.5)
    return np.full(len(rows), np.nan), np.ones(len(rows), dtype=bool)


def load_nwb_traces(path: str | Path, nwb_series=None, fs_hz: float | None = None) -> NwbTraces:
    """Read the processed traces of an NWB file (module docstring) and their ROIs.

    Raises ValueError naming the file for a file without an ophys module, a series that is not
    there, traces that are not (frames, rois), series that do not line up, or a rate that
    contradicts ``fs_hz``.
    """
    path = Path(path)
    with open_nwb(path) as nwbfile:
        containers = _containers(path, nwbfile)
        container, chosen = _select(path, containers, series_names(nwb_series))
        if not chosen:
            raise ValueError(f"{path}: '{container}' holds no series")
        frames = {int(s.data.shape[0]) for s in chosen}
        rates = {round(series_rate(path, s), 9) for s in chosen}
        if len(frames) > 1 or len(rates) > 1:
            raise ValueError(
                f"{path}: the series of '{container}' differ in frames {sorted(frames)} or "
                f"rates {sorted(rates)}; name one with nwb_series"
            )
        rate = rates.pop()
        check_rate(path, rate, f"rate of '{chosen[0].name}'", fs_hz)
        regions = [(s.rois.table, np.asarray(s.rois.data[:], dtype=int)) for s in chosen]
        keys = [(id(t), int(r)) for t, rows in regions for r in rows]
        if len(set(keys)) != len(keys):
            raise ValueError(
                f"{path}: the series of '{container}' ({', '.join(s.name for s in chosen)}) "
                "cover the same ROIs; name one with nwb_series"
            )
        traces = np.vstack([_series_traces(path, s) for s in chosen])
        neuropil = None
        kind = "dff" if type(containers[container]).__name__ == "DfOverF" else "fluorescence"
        if kind == "fluorescence" and "Neuropil" in containers and container != "Neuropil":
            partner = containers["Neuropil"].roi_response_series
            if all(s.name in partner for s in chosen):
                neuropil = np.vstack([_series_traces(path, partner[s.name]) for s in chosen])
                if neuropil.shape != traces.shape:
                    neuropil = None
        tables = list(dict.fromkeys(id(t) for t, _ in regions))
        planes, pixels, probability, is_cell = [], [], [], []
        for table, rows in regions:
            default_plane = tables.index(id(table))
            for row in rows:
                voxels = _roi_pixels(table, int(row), default_plane)
                pixels.append(voxels)
                z = np.median(voxels[:, 2]) if len(voxels) else default_plane
                planes.append(int(round(z)))
            p, c = _labels(table, rows)
            probability.append(p)
            is_cell.append(c)
        return NwbTraces(
            path=path,
            kind=kind,
            series=tuple(f"{container}/{s.name}" for s in chosen),
            traces=traces,
            neuropil=neuropil,
            planes=np.array(planes, dtype=int),
            pixels=pixels,
            probability=np.concatenate(probability),
            is_cell=np.concatenate(is_cell),
            volume_rate_hz=float(rate),
            starting_time_s=series_start(chosen[0]),
            metadata=source_metadata(nwbfile, regions[0][0].imaging_plane),
        )
