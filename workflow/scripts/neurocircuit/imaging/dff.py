"""Neuropil correction, running baseline and ΔF/F, with bad frames masked and counted.

    Fc  = F − r · Fneu                       (r: neuropil coefficient, default 0.7)
    F0  = running baseline of Fc             (maximin or low percentile, window in seconds)
    ΔF/F = (Fc − F0) / max(F0, floor)        (floor = min_baseline_fraction · |baseline of F|)

The floor guards against near-zero or negative corrected baselines (a dim ROI whose neuropil is
brighter than its soma), which would otherwise blow ΔF/F up; the neurons where it applies are
counted. Frames that are not finite (or were masked upstream, e.g. saturated) are excluded from
the baseline, interpolated linearly over in the output, and reported in the returned mask: never
silently set to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d

BASELINE_METHODS = ("maximin", "percentile")


@dataclass
class DffResult:
    """dff: (neurons, frames) float32; baseline: (neurons, frames) F0 of the corrected traces;
    valid: (frames,) bool, False where the frame was masked; low_baseline: (neurons,) bool,
    True where the baseline floor was applied."""

    dff: np.ndarray
    baseline: np.ndarray
    valid: np.ndarray
    low_baseline: np.ndarray

    @property
    def masked_frames(self) -> int:
        return int((~self.valid).sum())


def neuropil_correct(F: np.ndarray, Fneu: np.ndarray, coefficient: float = 0.7) -> np.ndarray:
    """F − coefficient · Fneu, elementwise (neurons × frames)."""
    if F.shape != Fneu.shape:
        raise ValueError(f"F shape {F.shape} differs from Fneu shape {Fneu.shape}")
    return F - coefficient * Fneu


def interpolate_masked(traces: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Copy of ``traces`` (neurons × frames) with invalid frames linearly interpolated in time.

    Frames before the first (after the last) valid frame take its value.
    """
    valid = np.asarray(valid, dtype=bool)
    if valid.all():
        return traces.copy()
    if not valid.any():
        raise ValueError("every frame is masked; nothing to interpolate from")
    frames = np.arange(traces.shape[1])
    good = np.flatnonzero(valid)
    out = traces.copy()
    for row in out:
        row[~valid] = np.interp(frames[~valid], good, row[good])
    return out


def running_percentile(traces: np.ndarray, window: int, percentile: float) -> np.ndarray:
    """Running ``percentile`` over a centred window of ``window`` frames along axis 1.

    Evaluated at anchors every window/10 frames and linearly interpolated between them, so the
    cost is about 10 · neurons · frames instead of neurons · frames · window.
    """
    n_frames = traces.shape[1]
    step = max(1, window // 10)
    anchors = np.arange(0, n_frames, step)
    if anchors[-1] != n_frames - 1:
        anchors = np.append(anchors, n_frames - 1)
    half = window // 2
    values = np.empty((traces.shape[0], len(anchors)))
    for j, anchor in enumerate(anchors):
        lo, hi = max(0, anchor - half), min(n_frames, anchor + half + 1)
        values[:, j] = np.percentile(traces[:, lo:hi], percentile, axis=1)
    frames = np.arange(n_frames)
    return np.stack([np.interp(frames, anchors, row) for row in values])


def running_baseline(
    traces: np.ndarray,
    fs_hz: float,
    method: str = "maximin",
    window_s: float = 60.0,
    sigma_s: float = 1.0,
    percentile: float = 8.0,
) -> np.ndarray:
    """Slow baseline F0 of each trace (neurons × frames).

    maximin (suite2p's): Gaussian smoothing (sigma_s), then a running minimum and a running
    maximum over window_s. percentile: Gaussian smoothing, then a running low percentile over
    window_s. Windows longer than the recording use the whole recording.
    """
    if method not in BASELINE_METHODS:
        raise ValueError(f"baseline method '{method}' unknown (expected one of {BASELINE_METHODS})")
    if fs_hz <= 0 or window_s <= 0:
        raise ValueError(f"baseline needs fs_hz > 0 and window_s > 0, got {fs_hz}, {window_s}")
    window = max(3, int(round(window_s * fs_hz)))
    smooth = traces.astype(np.float64)
    if sigma_s > 0:
        smooth = gaussian_filter1d(smooth, sigma_s * fs_hz, axis=1, mode="nearest")
    if method == "maximin":
        low = minimum_filter1d(smooth, window, axis=1, mode="nearest")
        return maximum_filter1d(low, window, axis=1, mode="nearest")
    return running_percentile(smooth, min(window, traces.shape[1]), percentile)


def valid_frames(*arrays: np.ndarray, source: str = "traces") -> np.ndarray:
    """Frames (axis 1) where every value of every array is finite.

    Raises ValueError naming ``source`` when a whole row (neuron) is never finite.
    """
    valid = np.ones(arrays[0].shape[1], dtype=bool)
    for array in arrays:
        finite = np.isfinite(array)
        dead = np.flatnonzero(~finite.any(axis=1))
        if dead.size:
            raise ValueError(
                f"{source}: row(s) {dead[:5].tolist()} hold no finite value (all NaN or inf)"
            )
        valid &= finite.all(axis=0)
    return valid


def usable_frames(
    *arrays: np.ndarray,
    valid: np.ndarray | None = None,
    max_masked_fraction: float = 0.5,
    source: str = "traces",
) -> np.ndarray:
    """The frames (axis 1) to keep: finite in every array (``valid_frames``) and not marked bad
    upstream in ``valid``. Raises ValueError naming ``source`` when none is left or more than
    ``max_masked_fraction`` of them are masked (the rest are interpolated over)."""
    mask = valid_frames(*arrays, source=source)
    if valid is not None:
        mask &= np.asarray(valid, dtype=bool)
    n_frames, n_masked = mask.size, int((~mask).sum())
    if not mask.any():
        raise ValueError(f"{source}: all {n_frames} frames are NaN or masked")
    if n_masked > max_masked_fraction * n_frames:
        raise ValueError(
            f"{source}: {n_masked} of {n_frames} frames are NaN or masked "
            f"(more than max_masked_fraction={max_masked_fraction})"
        )
    return mask


def compute_dff(
    F: np.ndarray,
    fs_hz: float,
    Fneu: np.ndarray | None = None,
    neuropil_coefficient: float = 0.7,
    valid: np.ndarray | None = None,
    method: str = "maximin",
    window_s: float = 60.0,
    sigma_s: float = 1.0,
    percentile: float = 8.0,
    min_baseline_fraction: float = 0.1,
    max_masked_fraction: float = 0.5,
    source: str = "traces",
) -> DffResult:
    """ΔF/F of fluorescence traces F (neurons × frames), as in the module docstring.

    valid: frames already known to be bad upstream (False), combined with non-finite frames.
    Raises ValueError naming ``source`` when no frame is valid or more than
    ``max_masked_fraction`` of them are masked.
    """
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2 or F.shape[0] == 0 or F.shape[1] < 2:
        raise ValueError(f"{source}: need neurons × frames with >= 1 neuron, got {F.shape}")
    arrays = (F,) if Fneu is None else (F, np.asarray(Fneu, dtype=np.float64))
    mask = usable_frames(*arrays, valid=valid, max_masked_fraction=max_masked_fraction,
                         source=source)  # fmt: skip
    F = interpolate_masked(F, mask)
    if Fneu is None:
        corrected = F
    else:
        corrected = neuropil_correct(F, interpolate_masked(arrays[1], mask), neuropil_coefficient)
    kwargs = dict(method=method, window_s=window_s, sigma_s=sigma_s, percentile=percentile)
    baseline = running_baseline(corrected, fs_hz, **kwargs)
    reference = baseline if Fneu is None else running_baseline(F, fs_hz, **kwargs)
    floor = min_baseline_fraction * np.median(np.abs(reference), axis=1, keepdims=True)
    floor = np.maximum(floor, 1e-9)
    low = (baseline < floor).any(axis=1)
    dff = (corrected - baseline) / np.maximum(baseline, floor)
    return DffResult(dff=dff.astype(np.float32), baseline=baseline, valid=mask, low_baseline=low)
