"""Split a checked volumetric movie into one suite2p binary per plane, masking bad frames.

suite2p works on one plane at a time from a raw int16 binary (frames × Ly × Lx, C order), so
each plane becomes its own job. Frames that hold NaN (dropped lines, failed acquisitions) or
that are saturated (more than ``max_saturated_fraction`` of pixels at the detector's ceiling)
are masked: the whole volume is marked bad, counted, listed in ``movie_info.json``, excluded from
cell detection, and later interpolated over in ΔF/F (with a mask saved beside it). They are never
silently set to zero. In the binary, a bad frame is replaced by the nearest good frame of its
plane so registration sees no artificial jump.

The movie is a TIFF or HDF5 file (``readers.MovieFile``) or a raw NWB recording
(``nwb_input.NwbMovie``, whose rate, plane count, start time and metadata come from the file and
are kept in ``movie_info.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neurocircuit.imaging.nwb_input import NwbMovie, open_nwb_movie
from neurocircuit.imaging.readers import MovieFile, open_movie
from neurocircuit.runtime import atomic_folder

INT16_MAX = np.iinfo(np.int16).max
MOVIE_INFO = "movie_info.json"


def plane_binary_name(plane: int) -> str:
    """File name of plane ``plane``'s raw binary inside the planes folder."""
    return f"plane{plane}_raw.bin"


def find_bad_frames(
    frames: np.ndarray, saturation_value: float | None, max_saturated_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (nan_frames, saturated_frames) over axis 0 of a (frames, Y, X) stack.

    A frame is NaN-bad when any pixel is not finite, saturated when more than
    ``max_saturated_fraction`` of its pixels are >= ``saturation_value`` (None: never).
    """
    flat = frames.reshape(len(frames), -1)
    if np.issubdtype(flat.dtype, np.floating):
        nan_frames = ~np.isfinite(flat).all(axis=1)
    else:
        nan_frames = np.zeros(len(flat), dtype=bool)
    if saturation_value is None:
        saturated = np.zeros(len(flat), dtype=bool)
    else:
        saturated = (flat >= saturation_value).mean(axis=1) > max_saturated_fraction
    return nan_frames, saturated & ~nan_frames


def default_saturation_value(dtype: np.dtype) -> float | None:
    """The detector ceiling for integer data (the dtype's maximum); None for floats."""
    return float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else None


def int16_scale(frames: np.ndarray, good: np.ndarray) -> float:
    """Factor that brings ``frames`` into int16 without overflow (1 when they already fit).

    ΔF/F is invariant to a per-plane scale, so floats and 16-bit unsigned data lose nothing that
    matters by being scaled to peak at 30,000 counts.
    """
    if frames.dtype == np.int16:
        return 1.0
    values = frames[good]
    if values.size == 0:
        return 1.0
    peak = float(np.max(np.abs(values)))
    integer = np.issubdtype(frames.dtype, np.integer)
    if integer and peak <= INT16_MAX:
        return 1.0
    return 30000.0 / peak if peak > 0 else 1.0


def fill_bad_frames(frames: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Copy of ``frames`` with each bad frame replaced by the nearest good frame (earlier first)."""
    good_index = np.flatnonzero(~bad)
    out = frames.copy()
    for k in np.flatnonzero(bad):
        pos = np.searchsorted(good_index, k)
        nearest = good_index[pos - 1] if pos > 0 else good_index[pos]
        out[k] = frames[nearest]
    return out


def find_bad_volumes(
    movie: MovieFile | NwbMovie, ceiling: float | None, max_saturated_fraction: float
) -> tuple[np.ndarray, int, int]:
    """Volumes with a NaN or saturated frame in any plane (boolean, one per volume), and the
    counts of NaN and of saturated frames over all planes.

    Raises ValueError naming the file when every frame of a plane is bad.
    """
    planes_bad = []
    nan_count = saturated_count = 0
    for plane in range(movie.n_planes):
        nan_frames, saturated = find_bad_frames(
            movie.read_plane(plane), ceiling, max_saturated_fraction
        )
        if (nan_frames | saturated).all():
            raise ValueError(
                f"{movie.path}: all {movie.n_volumes} frames of plane {plane} are NaN or "
                "saturated; nothing to analyse"
            )
        planes_bad.append(nan_frames | saturated)
        nan_count += int(nan_frames.sum())
        saturated_count += int(saturated.sum())
    return np.any(planes_bad, axis=0), nan_count, saturated_count


def write_plane_binaries(
    movie: MovieFile | NwbMovie, bad_volumes: np.ndarray, folder: Path, logger=None
) -> list[float]:
    """Write each plane as an int16 binary into ``folder``, bad volumes filled from the nearest
    good one; returns each plane's int16 scale factor."""
    scales = []
    for plane in range(movie.n_planes):
        filled = fill_bad_frames(movie.read_plane(plane), bad_volumes)
        scale = int16_scale(filled, np.ones(len(filled), dtype=bool))
        data = np.clip(np.round(filled.astype(np.float64) * scale), -INT16_MAX, INT16_MAX)
        data.astype(np.int16).tofile(folder / plane_binary_name(plane))
        scales.append(scale)
        if logger:
            logger.info("plane %d written (scale %.4g)", plane, scale)
    return scales


def _movie_info(
    movie: MovieFile | NwbMovie,
    volume_rate_hz: float,
    ceiling: float | None,
    bad_volumes: np.ndarray,
    frame_counts: tuple[int, int],
    scales: list[float],
) -> dict:
    """Contents of movie_info.json: the movie's layout, its planes' int16 scales, the
    saturation ceiling, the (NaN, saturated) ``frame_counts`` and the masked volumes."""
    nan_count, saturated_count = frame_counts
    return {
        "source_file": str(movie.path),
        "format": movie.fmt,
        "n_planes": movie.n_planes,
        "n_volumes": movie.n_volumes,
        "height": movie.height,
        "width": movie.width,
        "source_dtype": str(movie.dtype),
        "volume_rate_hz": float(volume_rate_hz),
        "int16_scale": scales,
        "saturation_value": ceiling,
        "nan_frames": nan_count,
        "saturated_frames": saturated_count,
        "masked_volumes": int(bad_volumes.sum()),
        "bad_volumes": np.flatnonzero(bad_volumes).tolist(),
    } | _nwb_info(movie)


def _nwb_info(movie: MovieFile | NwbMovie) -> dict:
    """What movie_info.json keeps of a raw NWB recording: its series, layout, the time of its
    first frame (s) and the metadata an output NWB file carries over."""
    if movie.fmt != "nwb":
        return {}
    return {
        "nwb_series": list(movie.series),
        "nwb_layout": movie.layout,
        "starting_time_s": movie.starting_time_s,
        "nwb_metadata": movie.metadata,
    }


def split_movie_into_planes(
    movie_path: str | Path,
    out_dir: str | Path,
    n_planes: int | None,
    volume_rate_hz: float | None,
    fmt: str | None = None,
    h5_key: str = "data",
    nwb_series: str | list[str] | None = None,
    saturation_value: float | None = None,
    max_saturated_fraction: float = 0.01,
    max_masked_fraction: float = 0.5,
    logger=None,
) -> dict:
    """Write ``out_dir``/plane{k}_raw.bin (int16) for every plane, plus movie_info.json.

    The folder appears only when complete (written under a temporary name, then renamed).
    Raises ValueError naming the file when a plane is entirely NaN/saturated, or when more than
    ``max_masked_fraction`` of the volumes are bad. Returns the movie info dict.

    fmt "nwb": ``nwb_series`` names the series; ``n_planes`` and ``volume_rate_hz`` may be None
    (the file says) and are otherwise checked against the file.
    """
    if fmt == "nwb":
        movie = open_nwb_movie(movie_path, nwb_series, n_planes, volume_rate_hz)
        volume_rate_hz = movie.volume_rate_hz
    else:
        movie = open_movie(movie_path, n_planes, fmt=fmt, key=h5_key)
    ceiling = saturation_value
    if ceiling is None:
        ceiling = default_saturation_value(movie.dtype)
    if logger:
        logger.info(
            "%s: %d volumes × %d planes of %d×%d px (%s)",
            movie.path,
            movie.n_volumes,
            movie.n_planes,
            movie.height,
            movie.width,
            movie.dtype,
        )
    bad_volumes, nan_count, saturated_count = find_bad_volumes(
        movie, ceiling, max_saturated_fraction
    )
    masked = int(bad_volumes.sum())
    if masked > max_masked_fraction * movie.n_volumes:
        raise ValueError(
            f"{movie.path}: {masked} of {movie.n_volumes} volumes hold NaN or saturated frames "
            f"(more than max_masked_fraction={max_masked_fraction})"
        )
    with atomic_folder(Path(out_dir)) as folder:
        scales = write_plane_binaries(movie, bad_volumes, folder, logger)
        counts = (nan_count, saturated_count)
        info = _movie_info(movie, volume_rate_hz, ceiling, bad_volumes, counts, scales)
        (folder / MOVIE_INFO).write_text(json.dumps(info, indent=2) + "\n")
    if logger:
        logger.info(
            "masked %d volumes (%d NaN, %d saturated frames)", masked, nan_count, saturated_count
        )
    return info


def read_movie_info(planes_dir: str | Path) -> dict:
    """The movie_info.json written by ``split_movie_into_planes``."""
    path = Path(planes_dir) / MOVIE_INFO
    if not path.exists():
        raise FileNotFoundError(f"{path}: movie info not found (run the plane split first)")
    return json.loads(path.read_text())
