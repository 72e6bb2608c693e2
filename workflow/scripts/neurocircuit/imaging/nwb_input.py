"""Read NWB files (Neurodata Without Borders, DANDI's format): raw two-photon movies and
processed ophys traces, lazily, with one clear line naming the file for every bad input.

**Raw imaging**: a ``TwoPhotonSeries`` (or ``OnePhotonSeries``) in ``acquisition``, in one of
three layouts:

- ``interleaved``: one 3-D series (frames, x, y), the planes of each volume following each other
  in time (how suite2p exports a volume). Its plane count is the series ``rate`` over its imaging
  plane's ``imaging_rate`` (frames per second over volumes per second) when that ratio is an
  integer >= 2, else the session's ``n_planes`` (default 1);
- ``zstack``: one 4-D series (volumes, x, y, z), z the plane;
- ``per_plane``: one 3-D series per imaging plane (same shape and rate), in the order the session
  lists them (``nwb_series``) or, unnamed, every imaging series of the file in natural name order.

**Image axes** (docs/imaging.md, "NWB image axes"): image series, ``image_mask`` and images are
(x, y[, z]) with x the column (width) and y the row (height), as the NWB schema (2.11) spells it
out and neuroconv/roiextractors write and read them; frames come out as (volumes, y, x) like the
TIFF reader's. Pixel and voxel masks are (row, column[, plane], weight) in their fields
(x, y[, z], weight): what suite2p's ``save_nwb`` and neuroconv (roiextractors' [y, x, weight]
pixel masks, written as they are) put in every such file we know of. The rate (Hz) is the
series' ``rate`` or, without one, the median step of its first timestamps. A plane count or
rate that the session states and the file contradicts is an error. ``NwbMovie.read_plane`` reads
one plane, a chunk of frames at a time: a recording never has to fit in memory.

**Processed**: ``processing/ophys``: ``Fluorescence`` (raw F; a ``Neuropil`` container holding a
series of the same name is its neuropil, as suite2p writes) or else ``DfOverF``. Several series
in one container over disjoint ROIs (suite2p's ``plane0``, ``plane1``, ...) are one population.
Each ROI's plane and pixels come from its ``PlaneSegmentation`` (voxel, pixel or image mask), its
cell label and probability from an ``iscell`` (suite2p) or ``cell_probability`` column.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurocircuit.imaging.readers import require_file

CHUNK_BYTES = 64 << 20
"""Most bytes of frames read from the file at once."""
RATE_TOLERANCE = 1e-3
"""Relative difference between the file's rate and the session's fs_hz that counts as equal."""


EXPECTED_DIMENSIONS = {
    "TwoPhotonSeries": "3 (frames, x, y; planes interleaved) or 4 (frames, x, y, z)",
    "OnePhotonSeries": "3 (frames, x, y; planes interleaved) or 4 (frames, x, y, z)",
    "RoiResponseSeries": "2 (frames, rois)",
}


def _short(error: BaseException, limit: int = 200) -> str:
    message = " ".join(str(error).split()) or type(error).__name__
    return message if len(message) <= limit else message[:limit] + " ..."


def dimensions_error(path: Path, name: str, kind: str, shape: tuple[int, ...]) -> ValueError:
    """The one error of a series whose data has the wrong number of dimensions."""
    return ValueError(
        f"{path}: series '{name}' has {len(shape)} dimensions {shape}; expected "
        f"{EXPECTED_DIMENSIONS[kind]}"
    )


def _unreadable(path: Path, error: Exception) -> ValueError:
    """One line for a file pynwb cannot read: a series of the wrong shape said as such, other
    objects pynwb cannot build named by their place in the file."""
    builder, message = (error.args + (None, None))[:2]
    if not hasattr(builder, "path") or not isinstance(message, str):
        return ValueError(f"{path}: not a readable NWB file ({_short(error)})")
    kind = builder.attributes.get("neurodata_type")
    shape = re.search(r"incorrect shape for data: got \(([\d, ]*)\)", message)
    if shape and kind in EXPECTED_DIMENSIONS:
        dims = tuple(int(s) for s in shape.group(1).split(",") if s.strip())
        return dimensions_error(path, builder.name, kind, dims)
    return ValueError(f"{path}: not a readable NWB file ({builder.path}: {_short(message)})")


@contextlib.contextmanager
def open_nwb(path: str | Path) -> Iterator:
    """The ``NWBFile`` of ``path``, read lazily (datasets stay on disk) and closed afterwards.

    Raises FileNotFoundError for a missing file, ValueError for a file that is not HDF5 or not
    a readable NWB file.
    """
    from pynwb import NWBHDF5IO

    path = require_file(path, "NWB file")
    try:
        io = NWBHDF5IO(str(path), "r")
    except OSError as error:
        message = f"{path}: not an HDF5 file, so not an NWB file ({_short(error)})"
        raise ValueError(message) from None
    try:
        try:
            nwbfile = io.read()
        except Exception as error:  # pynwb and hdmf raise many types for foreign files
            raise _unreadable(path, error) from None
        yield nwbfile
    finally:
        io.close()


def series_names(value) -> tuple[str, ...]:
    """A session's ``nwb_series`` (None, one name, or a list) as a tuple of names."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(name) for name in value)


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def imaging_series(nwbfile) -> dict:
    """The raw imaging series of ``acquisition`` (TwoPhotonSeries, OnePhotonSeries) by name."""
    from pynwb.ophys import OnePhotonSeries, TwoPhotonSeries

    return {
        name: obj
        for name, obj in nwbfile.acquisition.items()
        if isinstance(obj, (TwoPhotonSeries, OnePhotonSeries))
    }


def _ophys_series(nwbfile) -> dict[str, list[str]]:
    """Series of the ophys module's Fluorescence and DfOverF containers, by container."""
    from pynwb.ophys import DfOverF, Fluorescence

    ophys = nwbfile.processing.get("ophys")
    if ophys is None:
        return {}
    return {
        name: list(container.roi_response_series)
        for name, container in ophys.data_interfaces.items()
        if isinstance(container, (Fluorescence, DfOverF))
    }


def _available(nwbfile) -> str:
    names = list(imaging_series(nwbfile))
    names += [f"{c}/{s}" for c, series in _ophys_series(nwbfile).items() for s in series]
    return ", ".join(names) or "none"


def series_rate(path: Path, series) -> float:
    """Frames per second of a series: its ``rate``, else the median step of its timestamps."""
    if series.rate is not None:
        rate = float(series.rate)
    elif series.timestamps is not None and len(series.timestamps) > 1:
        steps = np.diff(np.asarray(series.timestamps[:1001], dtype=np.float64))
        rate = 1.0 / float(np.median(steps)) if np.median(steps) > 0 else float("nan")
    else:
        raise ValueError(f"{path}: series '{series.name}' has neither a rate nor timestamps")
    if not np.isfinite(rate) or rate <= 0:
        raise ValueError(f"{path}: series '{series.name}' has no positive frame rate ({rate})")
    return rate


def series_start(series) -> float:
    """Time (s) of a series' first frame: ``starting_time`` or its first timestamp."""
    if series.rate is not None:
        return float(series.starting_time or 0.0)
    return float(series.timestamps[0])


def check_rate(path: Path, rate_hz: float, how: str, fs_hz: float | None) -> None:
    """Raise ValueError when the session's ``fs_hz`` contradicts the file's volume rate."""
    if fs_hz is not None and abs(rate_hz - float(fs_hz)) > RATE_TOLERANCE * rate_hz:
        raise ValueError(
            f"{path}: the file's volume rate is {rate_hz:.6g} Hz ({how}) but the session says "
            f"fs_hz: {fs_hz}"
        )


# ---------------------------------------------------------------- raw movies
@dataclass
class NwbMovie:
    """A checked raw NWB recording; ``read_plane(k)`` returns (volumes, Y, X) frames, like
    ``readers.MovieFile``. ``series``: the series read; ``layout``: interleaved, zstack or
    per_plane (module docstring)."""

    path: Path
    series: tuple[str, ...]
    layout: str
    n_volumes: int
    n_planes: int
    height: int
    width: int
    dtype: np.dtype
    volume_rate_hz: float
    starting_time_s: float
    metadata: dict = field(default_factory=dict)
    fmt: str = "nwb"

    def read_plane(self, plane: int) -> np.ndarray:
        """All frames of plane ``plane`` (0-based) as (volumes, height, width), source dtype."""
        if not 0 <= plane < self.n_planes:
            raise ValueError(f"{self.path}: plane {plane} out of range 0..{self.n_planes - 1}")
        frames = np.empty((self.n_volumes, self.height, self.width), dtype=self.dtype)
        chunk = max(1, CHUNK_BYTES // max(1, self.height * self.width * self.dtype.itemsize))
        with open_nwb(self.path) as nwbfile:
            name = self.series[plane if self.layout == "per_plane" else 0]
            data = nwbfile.acquisition[name].data
            for start in range(0, self.n_volumes, chunk):
                stop = min(start + chunk, self.n_volumes)
                if self.layout == "zstack":
                    block = data[start:stop, :, :, plane]
                elif self.layout == "interleaved":
                    n = self.n_planes
                    block = data[start * n + plane : stop * n : n]
                else:
                    block = data[start:stop]
                frames[start:stop] = np.asarray(block).transpose(0, 2, 1)
        return frames


def holds_frames(series) -> bool:
    """Whether a series stores its frames in the file (not in external files)."""
    return series.external_file is None and series.data is not None


def _pick_imaging_series(path: Path, nwbfile, names: tuple[str, ...]) -> list:
    found = imaging_series(nwbfile)
    if names:
        return [found[name] for name in names]
    found = {name: series for name, series in found.items() if holds_frames(series)} or found
    if len(found) == 1:
        return list(found.values())
    shapes = {tuple(series.data.shape) for series in found.values() if series.data is not None}
    planes = {series.imaging_plane.name for series in found.values()}
    if len(shapes) == 1 and len(planes) == len(found) and len(next(iter(shapes))) == 3:
        return [found[name] for name in sorted(found, key=_natural_key)]
    raise ValueError(
        f"{path}: {len(found)} imaging series ({', '.join(found)}) that are not one per plane; "
        "name the one(s) to use with nwb_series"
    )


def _check_series_data(path: Path, series) -> tuple[int, ...]:
    if not holds_frames(series) or len(series.data.shape) == 0:
        raise ValueError(
            f"{path}: series '{series.name}' keeps its frames in external files "
            f"({', '.join(map(str, series.external_file or [])) or 'none'}); point a tiff session "
            "at them instead"
        )
    shape = tuple(int(s) for s in series.data.shape)
    if len(shape) not in (3, 4):
        raise dimensions_error(path, series.name, type(series).__name__, shape)
    if min(shape) < 1:
        raise ValueError(f"{path}: series '{series.name}' is empty (shape {shape})")
    return shape


def _interleaved_planes(series, frame_rate: float) -> int | None:
    """Planes of a 3-D series from frame rate / imaging_rate; None when that says nothing."""
    imaging_rate = series.imaging_plane.imaging_rate if series.imaging_plane else None
    if imaging_rate is None or not np.isfinite(imaging_rate) or imaging_rate <= 0:
        return None
    ratio = frame_rate / float(imaging_rate)
    planes = int(round(ratio))
    if planes >= 2 and abs(ratio - planes) <= RATE_TOLERANCE * ratio:
        return planes
    return None


def _raw_layout(path: Path, chosen: list, n_planes: int | None) -> tuple[str, int, str]:
    """(layout, planes, how the file gives the plane count) of the chosen series."""
    shapes = [_check_series_data(path, series) for series in chosen]
    if len(chosen) > 1:
        if len(set(shapes)) > 1 or len(shapes[0]) != 3:
            listed = ", ".join(f"{s.name} {shape}" for s, shape in zip(chosen, shapes, strict=True))
            raise ValueError(
                f"{path}: one series per plane must all be 3-D with one shape; got {listed}"
            )
        return "per_plane", len(chosen), f"{len(chosen)} series, one per plane"
    if len(shapes[0]) == 4:
        return "zstack", shapes[0][3], f"z axis of {shapes[0]}"
    planes = _interleaved_planes(chosen[0], series_rate(path, chosen[0]))
    if planes is None:
        return "interleaved", int(n_planes or 1), "the session's n_planes"
    return "interleaved", planes, "series rate over imaging_rate"


def open_nwb_movie(
    path: str | Path,
    nwb_series=None,
    n_planes: int | None = None,
    fs_hz: float | None = None,
) -> NwbMovie:
    """Check a raw NWB recording and return an ``NwbMovie`` (no frame is read).

    ``nwb_series``: the series to use (None: the file's only imaging series, or its one series
    per plane). ``n_planes``, ``fs_hz``: what the session states, checked against the file.
    """
    path = Path(path)
    names = series_names(nwb_series)
    with open_nwb(path) as nwbfile:
        found = imaging_series(nwbfile)
        missing = [name for name in names if name not in found]
        if missing:
            raise ValueError(
                f"{path}: no imaging series named '{missing[0]}' "
                f"(series in the file: {_available(nwbfile)})"
            )
        if not found:
            raise ValueError(
                f"{path}: no TwoPhotonSeries in acquisition (series in the file: "
                f"{_available(nwbfile)})"
            )
        chosen = _pick_imaging_series(path, nwbfile, names)
        layout, planes, how = _raw_layout(path, chosen, n_planes)
        if n_planes is not None and int(n_planes) != planes:
            raise ValueError(
                f"{path}: the file has {planes} plane(s) ({how}) but the session says "
                f"n_planes: {n_planes}"
            )
        rates = {round(series_rate(path, series), 9) for series in chosen}
        if len(rates) > 1:
            raise ValueError(f"{path}: the per-plane series have different rates {sorted(rates)}")
        frame_rate = rates.pop()
        shape = tuple(int(s) for s in chosen[0].data.shape)
        frames = shape[0]
        if layout == "interleaved":
            if frames % planes:
                raise ValueError(
                    f"{path}: {frames} frames of '{chosen[0].name}' do not divide into {planes} "
                    f"planes ({frames} % {planes} = {frames % planes}); check n_planes"
                )
            frames //= planes
            volume_rate, rate_how = frame_rate / planes, f"{frame_rate:.6g} frames/s / {planes}"
        else:
            volume_rate, rate_how = frame_rate, "series rate"
        check_rate(path, volume_rate, rate_how, fs_hz)
        metadata = source_metadata(nwbfile, chosen[0].imaging_plane)
        return NwbMovie(
            path=path,
            series=tuple(series.name for series in chosen),
            layout=layout,
            n_volumes=frames,
            n_planes=planes,
            height=shape[2],
            width=shape[1],
            dtype=np.dtype(chosen[0].data.dtype),
            volume_rate_hz=float(volume_rate),
            starting_time_s=series_start(chosen[0]),
            metadata=metadata,
        )


# ---------------------------------------------------------------- what the file holds
def nwb_session_plan(path: str | Path, nwb_series=None, n_planes: int | None = None) -> dict:
    """How the workflow reads an NWB session: {"kind": "raw" or "processed", "n_planes"}.

    For the DAG, before any job: raw files run suite2p on ``n_planes`` planes; processed files
    go straight to the activity job. A file that is missing or that cannot be read plans as raw
    with the session's ``n_planes`` (default 1), so the first job that reads it (the plane
    split) fails with the reader's one-line error, or Snakemake reports the missing input.
    """
    names = series_names(nwb_series)
    fallback = {"kind": "raw", "n_planes": int(n_planes or 1)}
    if not Path(path).is_file():
        return fallback
    try:
        with open_nwb(path) as nwbfile:
            raw = imaging_series(nwbfile)
            with_frames = [series for series in raw.values() if holds_frames(series)]
            if (names and not set(names) <= set(raw)) or (not names and not with_frames):
                return {"kind": "processed", "n_planes": None}
        return {"kind": "raw", "n_planes": open_nwb_movie(path, names, n_planes).n_planes}
    except (OSError, ValueError):
        return fallback


def _isoformat(value) -> str | None:
    return None if value is None else value.isoformat()


def source_metadata(nwbfile, imaging_plane=None) -> dict:
    """What an output file carries over from a source NWB file (JSON-serialisable): session
    description and start time, subject, device, optical channel and imaging plane."""
    meta = {
        "session_description": nwbfile.session_description,
        "session_start_time": _isoformat(nwbfile.session_start_time),
        "identifier": nwbfile.identifier,
    }
    subject = nwbfile.subject
    if subject is not None:
        keys = ("subject_id", "species", "sex", "age", "genotype", "strain", "description")
        meta["subject"] = {k: getattr(subject, k) for k in keys if getattr(subject, k)}
        if subject.weight:
            meta["subject"]["weight"] = str(subject.weight)
        if subject.date_of_birth is not None:
            meta["subject"]["date_of_birth"] = subject.date_of_birth.isoformat()
    if imaging_plane is not None:
        meta["imaging_plane"] = {
            "description": imaging_plane.description or "",  # prefixed by the writer
            "indicator": imaging_plane.indicator,
            "location": imaging_plane.location,
            "excitation_lambda": float(imaging_plane.excitation_lambda),
        }
        channels = imaging_plane.optical_channel
        channel = channels[0] if isinstance(channels, (list, tuple)) else channels
        if channel is not None:
            meta["optical_channel"] = {
                "description": channel.description,
                "emission_lambda": float(channel.emission_lambda),
            }
        device = imaging_plane.device
        if device is not None:
            meta["device"] = {"name": device.name}
            for key in ("description", "manufacturer"):
                if getattr(device, key, None):
                    meta["device"][key] = getattr(device, key)
    return meta
