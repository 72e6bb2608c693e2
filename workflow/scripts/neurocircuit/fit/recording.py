"""Recorded activity for fitting: loading and the paper's preprocessing preset.

1. **Load** an activity file: ``results/imaging/{session}/activity.h5`` (``dff``, neurons × time,
   and ``time_s``) or ``activity.nwb`` (its DfOverF), or a neurons × time ``.npy`` traces file
   (the zebrafish recording, raw fluorescence, about 0.9 s per volume). Every neuron is used
   exactly once (the reference code sampled neurons with replacement; we do not).
2. **Min-max normalisation** to [0, 1], either ``global`` (one minimum and maximum for the whole
   recording, the NeuroTorch paper's numbers) or ``per_neuron`` (each neuron its own range, the
   reference code's default). The statistics come from the training frames only.
3. **Gaussian smoothing** along time, σ in frames, applied to each split (training frames,
   held-out frames) separately so nothing leaks across the split (smoothing the whole series
   first leaks about 3σ frames). Normalising before smoothing is the reference code's order.

Arrays are time-major, (T, N), inside this module; files store neurons × time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

NORMALISATIONS = ("global", "per_neuron")


@dataclass(frozen=True)
class ActivityRecording:
    """Recorded activity, time-major: ``traces`` (T frames, N neurons), ``time_s`` (T,) in s."""

    traces: np.ndarray
    time_s: np.ndarray
    frame_period_s: float
    source: str
    interpolated_values: int = 0
    truth_index: np.ndarray | None = None
    """(N,) simulated neuron of each row (synthetic sessions; -1 unmatched), else None."""

    @property
    def n_frames(self) -> int:
        return int(self.traces.shape[0])

    @property
    def n_neurons(self) -> int:
        return int(self.traces.shape[1])


def _read_activity_arrays(path: Path):
    """(data neurons × time, time_s or None, truth_index or None) of an .h5, .nwb or .npy file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: activity file not found")
    if path.suffix == ".npy":
        try:
            return np.asarray(np.load(path, allow_pickle=False), dtype=np.float64), None, None
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not a readable .npy array ({error})") from None
    if path.suffix == ".nwb":  # an imaging session's activity.nwb
        from neurocircuit.imaging.activity_nwb import read_activity_nwb

        data = read_activity_nwb(path)
        dff = np.asarray(data["dff"], dtype=np.float64)
        return dff, data["time_s"], data.get("truth_index")
    if path.suffix not in (".h5", ".hdf5"):
        raise ValueError(f"{path}: unknown activity format '{path.suffix}' (use .h5, .nwb or .npy)")
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if "dff" not in h5:
                raise ValueError(
                    f"{path}: no 'dff' dataset (neurons × time); found {', '.join(h5) or '-'}"
                )
            data = np.asarray(h5["dff"], dtype=np.float64)
            time_s = truth_index = None
            if "time_s" in h5:
                time_s = np.asarray(h5["time_s"], dtype=np.float64).reshape(-1)
            if "truth_index" in h5:
                truth_index = np.asarray(h5["truth_index"], dtype=np.int64)
    except OSError as error:
        raise ValueError(f"{path}: not a readable HDF5 file ({error})") from None
    return data, time_s, truth_index


def load_activity(
    path: str | Path,
    frame_period_s: float | None = None,
    max_neurons: int | None = None,
    max_frames: int | None = None,
) -> ActivityRecording:
    """Read neurons × time activity from ``.h5`` (dataset ``dff``, optional ``time_s``) or ``.npy``.

    ``frame_period_s`` (s per frame) is required for ``.npy`` files and overrides nothing in an
    ``.h5`` file that has ``time_s``. ``max_neurons`` keeps the first neurons, ``max_frames`` the
    first frames (reduced presets). Isolated non-finite values (masked frames) are filled by
    linear interpolation in time and counted; a neuron with no finite value, an empty file or an
    array that is not 2-D is an error naming the file.
    """
    path = Path(path)
    data, time_s, truth_index = _read_activity_arrays(path)
    if data.ndim != 2:
        raise ValueError(f"{path}: activity must be neurons × time (2-D), got shape {data.shape}")
    if data.shape[0] == 0:
        raise ValueError(f"{path}: the activity file holds zero neurons")
    if data.shape[1] < 4:
        raise ValueError(f"{path}: only {data.shape[1]} frames; at least 4 are needed to fit")
    if max_neurons is not None:
        data = data[:max_neurons]
        truth_index = None if truth_index is None else truth_index[:max_neurons]
    if max_frames is not None:
        data = data[:, :max_frames]
        time_s = None if time_s is None else time_s[:max_frames]

    finite = np.isfinite(data)
    dead = np.flatnonzero(~finite.any(axis=1))
    if dead.size:
        shown = ", ".join(str(i) for i in dead[:10]) + (" ..." if dead.size > 10 else "")
        raise ValueError(
            f"{path}: {dead.size} neuron row(s) have no finite value (NaN rows: {shown}); "
            "remove them upstream"
        )
    n_bad = int((~finite).sum())
    if n_bad:
        frames = np.arange(data.shape[1])
        for row in np.flatnonzero(~finite.all(axis=1)):
            good = finite[row]
            data[row, ~good] = np.interp(frames[~good], frames[good], data[row, good])

    if time_s is not None and time_s.shape == (data.shape[1],) and data.shape[1] > 1:
        period = float(np.median(np.diff(time_s)))
    else:
        if frame_period_s is None:
            raise ValueError(f"{path}: no time_s in the file; give the frame period (s)")
        period = float(frame_period_s)
        time_s = np.arange(data.shape[1]) * period
    return ActivityRecording(
        traces=np.ascontiguousarray(data.T),
        time_s=time_s,
        frame_period_s=period,
        source=str(path),
        interpolated_values=n_bad,
        truth_index=truth_index,
    )


@dataclass(frozen=True)
class Preprocessing:
    """The paper's preset: min-max ``normalisation`` ("global" or "per_neuron"), then Gaussian
    smoothing with σ = ``smoothing_sigma_frames`` (frames; 0 = none), per split."""

    normalisation: str = "global"
    smoothing_sigma_frames: float = 10.0

    def __post_init__(self):
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(
                f"normalisation must be one of {', '.join(NORMALISATIONS)}, "
                f"got '{self.normalisation}'"
            )
        if self.smoothing_sigma_frames < 0:
            raise ValueError(
                f"smoothing_sigma_frames must be >= 0, got {self.smoothing_sigma_frames}"
            )


def minmax_range(traces, normalisation: str) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of (T, N) ``traces``, broadcastable to (N,): one pair or one per neuron."""
    t = np.asarray(traces, dtype=np.float64)
    if normalisation == "global":
        return np.full(t.shape[1], t.min()), np.full(t.shape[1], t.max())
    if normalisation == "per_neuron":
        return t.min(axis=0), t.max(axis=0)
    raise ValueError(
        f"normalisation must be one of {', '.join(NORMALISATIONS)}, got '{normalisation}'"
    )


def apply_minmax(traces, low, high) -> np.ndarray:
    """(traces − low) / (high − low); a flat neuron (high == low) becomes 0."""
    t = np.asarray(traces, dtype=np.float64)
    span = np.asarray(high, dtype=np.float64) - np.asarray(low, dtype=np.float64)
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (t - low) / safe, 0.0)


def smooth_in_time(traces, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing along time (axis 0), σ in frames, edges held at the nearest frame."""
    from scipy.ndimage import gaussian_filter1d

    t = np.asarray(traces, dtype=np.float64)
    if sigma_frames <= 0:
        return t.copy()
    return gaussian_filter1d(t, sigma=float(sigma_frames), axis=0, mode="nearest")


def preprocess(traces, preprocessing: Preprocessing) -> np.ndarray:
    """Normalise then smooth a whole (T, N) recording (the in-sample fit)."""
    low, high = minmax_range(traces, preprocessing.normalisation)
    return smooth_in_time(apply_minmax(traces, low, high), preprocessing.smoothing_sigma_frames)


def preprocess_split(traces, preprocessing: Preprocessing, n_train: int):
    """Training frames [0, n_train) and held-out frames [n_train, T), each preprocessed alone.

    Normalisation statistics come from the training frames (the held-out part may leave [0, 1]);
    smoothing runs on each part separately, so no held-out frame influences a training frame.
    """
    t = np.asarray(traces, dtype=np.float64)
    train, test = t[:n_train], t[n_train:]
    low, high = minmax_range(train, preprocessing.normalisation)
    sigma = preprocessing.smoothing_sigma_frames
    return (
        smooth_in_time(apply_minmax(train, low, high), sigma),
        smooth_in_time(apply_minmax(test, low, high), sigma),
    )


def describe_preprocessing(preprocessing: Preprocessing) -> dict:
    """The preset as recorded in metrics.json, with the order of operations spelt out."""
    return {
        **asdict(preprocessing),
        "order": "min-max normalisation (training-frame statistics), then Gaussian smoothing "
        "along time applied to each split separately",
    }
