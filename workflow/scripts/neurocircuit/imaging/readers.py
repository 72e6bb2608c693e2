"""Read what users have: volumetric movies, suite2p output folders, and traces files.

Every reader checks its input before any heavy work and fails with one line that names the file
and the problem (FileNotFoundError or ValueError), never a deep library traceback.

Movies are multi-page TIFFs (planes interleaved in ScanImage order, or a 4-D T×Z×Y×X series) or
HDF5 datasets (T·Z×Y×X interleaved, or T×Z×Y×X). ``MovieFile`` reads one plane at a time, so
a long recording never has to fit in memory at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUITE2P_PLANE_FILES = ("F.npy", "Fneu.npy", "iscell.npy", "stat.npy")


def require_file(path: str | Path, what: str = "file") -> Path:
    """Return ``path`` as a Path, or raise FileNotFoundError naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} not found")
    if not path.is_file():
        raise ValueError(f"{path}: expected a {what}, found a folder")
    return path


def _movie_layout(path: Path, shape: tuple[int, ...], n_planes: int) -> tuple[int, int, int, int]:
    """(volumes, planes, height, width) of a 3-D interleaved or 4-D T×Z×Y×X movie."""
    if len(shape) == 3:
        frames, height, width = shape
        if n_planes < 1:
            raise ValueError(f"{path}: n_planes must be >= 1, got {n_planes}")
        if frames % n_planes != 0:
            raise ValueError(
                f"{path}: {frames} frames do not divide into {n_planes} planes "
                f"({frames} % {n_planes} = {frames % n_planes}); check n_planes"
            )
        return frames // n_planes, n_planes, height, width
    if len(shape) == 4:
        volumes, planes, height, width = shape
        if planes != n_planes:
            raise ValueError(
                f"{path}: the movie has {planes} planes (T×Z×Y×X = {shape}) but the config "
                f"says n_planes={n_planes}"
            )
        return volumes, planes, height, width
    raise ValueError(
        f"{path}: movie has {len(shape)} dimensions {tuple(shape)}; expected 3 (frames×Y×X, "
        "planes interleaved) or 4 (volumes×planes×Y×X)"
    )


@dataclass
class MovieFile:
    """A checked volumetric movie on disk; ``read_plane(k)`` returns (volumes, Y, X) frames.

    fmt is "tiff" or "h5"; for HDF5, ``key`` names the dataset.
    """

    path: Path
    fmt: str
    n_volumes: int
    n_planes: int
    height: int
    width: int
    dtype: np.dtype
    key: str | None = None

    def read_plane(self, plane: int) -> np.ndarray:
        """All frames of plane ``plane`` (0-based) as (volumes, height, width), source dtype."""
        if not 0 <= plane < self.n_planes:
            raise ValueError(f"{self.path}: plane {plane} out of range 0..{self.n_planes - 1}")
        if self.fmt == "tiff":
            return self._read_tiff_plane(plane)
        return self._read_h5_plane(plane)

    def _read_tiff_plane(self, plane: int) -> np.ndarray:
        import tifffile

        pages = slice(plane, self.n_volumes * self.n_planes, self.n_planes)
        try:
            with tifffile.TiffFile(self.path) as tif:
                frames = tif.asarray(key=pages)
        except Exception as error:  # tifffile raises many types for damaged files
            raise ValueError(f"{self.path}: unreadable or truncated TIFF ({error})") from None
        return np.asarray(frames).reshape(self.n_volumes, self.height, self.width)

    def _read_h5_plane(self, plane: int) -> np.ndarray:
        import h5py

        try:
            with h5py.File(self.path, "r") as h5:
                data = h5[self.key]
                if data.ndim == 4:
                    frames = data[:, plane]
                else:
                    frames = data[plane :: self.n_planes]
        except OSError as error:
            raise ValueError(f"{self.path}: unreadable HDF5 ({error})") from None
        return np.asarray(frames).reshape(self.n_volumes, self.height, self.width)


def open_movie(path: str | Path, n_planes: int, fmt: str | None = None, key: str = "data"):
    """Check a movie file and return a ``MovieFile`` (nothing is read beyond the headers).

    fmt: "tiff" or "h5"; None guesses from the suffix. Raises FileNotFoundError for a missing
    file and ValueError for an unreadable or truncated file, a wrong number of dimensions, or a
    frame count that the plane count does not divide.
    """
    path = require_file(path, "movie file")
    if fmt is None:
        fmt = "h5" if path.suffix.lower() in {".h5", ".hdf5"} else "tiff"
    if fmt == "tiff":
        return _open_tiff(path, n_planes)
    if fmt == "h5":
        return _open_h5(path, n_planes, key)
    raise ValueError(f"{path}: unknown movie format '{fmt}' (expected 'tiff' or 'h5')")


def _open_tiff(path: Path, n_planes: int) -> MovieFile:
    import tifffile

    size = path.stat().st_size
    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise ValueError("no image series")
            series = tif.series[0]
            shape = tuple(int(s) for s in series.shape)
            axes = series.axes
            dtype = np.dtype(series.dtype)
            n_pages = len(tif.pages)
            page_is_frame = tif.pages[0].shape == shape[-2:]
            end = None if series.dataoffset is None else series.dataoffset + series.nbytes
            last = tif.pages[n_pages - 1]
            ends = [o + c for o, c in zip(last.dataoffsets, last.databytecounts, strict=False)]
    except ValueError as error:
        raise ValueError(f"{path}: unreadable TIFF ({error})") from None
    except Exception as error:
        raise ValueError(f"{path}: unreadable TIFF ({type(error).__name__}: {error})") from None
    for axis, what in (("S", "samples per pixel (colour image?)"), ("C", "channels")):
        if axis in axes and shape[axes.index(axis)] > 1:
            raise ValueError(
                f"{path}: {shape[axes.index(axis)]} {what} (axes {axes}); give a single-channel "
                "grayscale movie"
            )
    shape = tuple(s for s, a in zip(shape, axes, strict=True) if not (a in "CS" and s == 1))
    declared = int(np.prod(shape[:-2])) if len(shape) >= 3 else 1
    short = page_is_frame and n_pages < declared
    if short or (end is not None and end > size) or (ends and max(ends) > size):
        raise ValueError(
            f"{path}: truncated TIFF ({n_pages} readable pages for {declared} frames, "
            f"file is {size} bytes)"
        )
    volumes, planes, height, width = _movie_layout(path, shape, n_planes)
    return MovieFile(path, "tiff", volumes, planes, height, width, dtype)


def _open_h5(path: Path, n_planes: int, key: str) -> MovieFile:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if key not in h5:
                raise ValueError(f"{path}: no dataset '{key}' (found: {', '.join(h5.keys())})")
            data = h5[key]
            shape = tuple(int(s) for s in data.shape)
            dtype = np.dtype(data.dtype)
    except OSError as error:
        raise ValueError(f"{path}: unreadable HDF5 ({error})") from None
    volumes, planes, height, width = _movie_layout(path, shape, n_planes)
    return MovieFile(path, "h5", volumes, planes, height, width, dtype, key=key)


@dataclass
class Suite2pPlane:
    """One suite2p plane folder: F and Fneu (rois×frames), iscell (rois×2), stat (per-ROI dicts).

    mean_image is ops["meanImg"] when ops.npy is present, else None.
    """

    folder: Path
    plane: int
    F: np.ndarray
    Fneu: np.ndarray
    iscell: np.ndarray
    stat: np.ndarray
    mean_image: np.ndarray | None

    @property
    def n_rois(self) -> int:
        return self.F.shape[0]


def find_plane_folders(folder: str | Path) -> list[Path]:
    """Plane folders of a suite2p output: ``folder`` itself if it holds F.npy, else plane*/.

    Accepts suite2p's save folder (``suite2p/`` with plane0, plane1, ...), its parent, or a
    single plane folder. The ``combined`` folder is ignored.
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: suite2p folder not found")
    if not folder.is_dir():
        raise ValueError(f"{folder}: expected a suite2p output folder, found a file")
    if (folder / "F.npy").exists() or folder.name.startswith("plane"):
        return [folder]
    for candidate in (folder, folder / "suite2p"):
        planes = [p for p in candidate.glob("plane*") if re.fullmatch(r"plane\d+", p.name)]
        if planes:
            return sorted(planes, key=lambda p: int(p.name[5:]))
    raise ValueError(f"{folder}: no suite2p plane folders (plane0/, plane1/, ...) and no F.npy")


def _plane_number(folder: Path, default: int) -> int:
    match = re.fullmatch(r"plane(\d+)", folder.name)
    return int(match.group(1)) if match else default


def _load_npy(path: Path, allow_pickle: bool = False) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=allow_pickle)
    except Exception as error:
        raise ValueError(f"{path}: unreadable .npy file ({error})") from None


def load_suite2p_plane(folder: str | Path, plane: int | None = None) -> Suite2pPlane:
    """Load and check one suite2p plane folder (F.npy, Fneu.npy, iscell.npy, stat.npy)."""
    folder = Path(folder)
    for name in SUITE2P_PLANE_FILES:
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder}: suite2p plane folder has no {name}")
    F = _load_npy(folder / "F.npy")
    Fneu = _load_npy(folder / "Fneu.npy")
    iscell = _load_npy(folder / "iscell.npy")
    stat = _load_npy(folder / "stat.npy", allow_pickle=True)
    if F.ndim != 2:
        raise ValueError(f"{folder / 'F.npy'}: expected rois×frames (2-D), got shape {F.shape}")
    if Fneu.shape != F.shape:
        raise ValueError(f"{folder}: Fneu.npy shape {Fneu.shape} differs from F.npy {F.shape}")
    iscell = iscell.reshape(len(iscell), -1)
    if len(iscell) != len(F) or len(stat) != len(F):
        raise ValueError(
            f"{folder}: {len(F)} ROIs in F.npy but {len(iscell)} in iscell.npy and "
            f"{len(stat)} in stat.npy"
        )
    mean_image = None
    if (folder / "ops.npy").exists():
        ops = _load_npy(folder / "ops.npy", allow_pickle=True).item()
        mean_image = ops.get("meanImg")
    return Suite2pPlane(
        folder=folder,
        plane=_plane_number(folder, 0) if plane is None else plane,
        F=F.astype(np.float64),
        Fneu=Fneu.astype(np.float64),
        iscell=iscell.astype(np.float64),
        stat=stat,
        mean_image=mean_image,
    )


def load_suite2p_folder(folder: str | Path, n_planes: int | None = None) -> list[Suite2pPlane]:
    """Every plane of a suite2p output folder, checked to share one frame count.

    The number of plane folders must match what suite2p recorded (``nplanes`` in each plane's
    ops.npy, when present) and, when given, the session's ``n_planes``: an incomplete copy or a
    folder from another recording stops here instead of yielding a partial activity file.
    """
    folders = find_plane_folders(folder)
    names = ", ".join(p.name for p in folders)
    if n_planes is not None and len(folders) != n_planes:
        raise ValueError(
            f"{folder}: {len(folders)} plane folder(s) ({names}), "
            f"but the session says n_planes: {n_planes}"
        )
    for plane_folder in folders:
        if (plane_folder / "ops.npy").exists():
            ops = _load_npy(plane_folder / "ops.npy", allow_pickle=True)
            recorded = ops.item().get("nplanes") if ops.dtype == object else None
            if recorded is not None and int(recorded) != len(folders):
                raise ValueError(
                    f"{folder}: ops.npy says {int(recorded)} planes but "
                    f"{len(folders)} plane folder(s) were found ({names})"
                )
            break
    planes = [load_suite2p_plane(p, _plane_number(p, i)) for i, p in enumerate(folders)]
    n_frames = {p.F.shape[1] for p in planes}
    if len(n_frames) > 1:
        counts = ", ".join(f"{p.folder.name}: {p.F.shape[1]}" for p in planes)
        raise ValueError(f"{folder}: planes have different frame counts ({counts})")
    return planes


def load_traces(path: str | Path, key: str = "data") -> np.ndarray:
    """Fluorescence traces (neurons × time) from .npy or .h5/.hdf5 (dataset ``key``), float64."""
    path = require_file(path, "traces file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        traces = _load_npy(path)
    elif suffix in {".h5", ".hdf5"}:
        import h5py

        try:
            with h5py.File(path, "r") as h5:
                if key not in h5:
                    raise ValueError(f"{path}: no dataset '{key}' (found: {', '.join(h5.keys())})")
                traces = h5[key][()]
        except OSError as error:
            raise ValueError(f"{path}: unreadable HDF5 ({error})") from None
    else:
        raise ValueError(f"{path}: traces must be .npy or .h5/.hdf5, not '{suffix}'")
    if traces.ndim != 2:
        raise ValueError(f"{path}: traces must be neurons × time (2-D), got shape {traces.shape}")
    if traces.shape[0] == 0 or traces.shape[1] < 2:
        raise ValueError(f"{path}: traces have shape {traces.shape}; need >= 1 neuron, 2 frames")
    if not np.issubdtype(traces.dtype, np.number):
        raise ValueError(f"{path}: traces have non-numeric dtype {traces.dtype}")
    return traces.astype(np.float64)
