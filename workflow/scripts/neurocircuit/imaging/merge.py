"""One neuron, one row: merge ROIs that are the same soma seen in adjacent planes.

A soma thicker than the plane spacing (or sitting between two planes) is detected in both. Two
ROIs are the same neuron when they lie in planes at most ``max_plane_gap`` apart, their pixel
masks overlap (intersection over the smaller mask >= ``min_overlap``), and their ΔF/F traces
correlate (Pearson r >= ``min_correlation``, after light smoothing that averages out shot noise).
Pairs are joined strongest correlation first, and never so that one group holds two ROIs of the
same plane. Each group keeps its ROI with the best signal-to-noise ratio as the neuron's row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d


@dataclass
class MergeResult:
    """groups: list of ROI index arrays (one per neuron); representative: (neurons,) ROI index
    kept for each group; pairs: (k, 2) ROI pairs that were joined."""

    groups: list[np.ndarray]
    representative: np.ndarray
    pairs: np.ndarray

    @property
    def n_merged(self) -> int:
        """ROIs folded into another ROI's row."""
        return int(sum(len(g) - 1 for g in self.groups))


def trace_snr(traces: np.ndarray) -> np.ndarray:
    """Signal-to-noise ratio of each row: std of the smoothed trace over the frame-to-frame noise.

    Noise is the robust standard deviation of first differences (MAD / 0.6745 / sqrt 2).
    """
    traces = np.asarray(traces, dtype=np.float64)
    noise = np.median(np.abs(np.diff(traces, axis=1)), axis=1) / (0.6745 * np.sqrt(2.0))
    signal = gaussian_filter1d(traces, 1.0, axis=1).std(axis=1)
    return signal / np.maximum(noise, 1e-12)


def mask_overlap(pixels_a: np.ndarray, pixels_b: np.ndarray) -> float:
    """|A ∩ B| / min(|A|, |B|) for two arrays of linear pixel indices."""
    if len(pixels_a) == 0 or len(pixels_b) == 0:
        return 0.0
    shared = np.intersect1d(pixels_a, pixels_b, assume_unique=False).size
    return shared / min(len(np.unique(pixels_a)), len(np.unique(pixels_b)))


def merge_across_planes(
    planes: np.ndarray,
    centers: np.ndarray,
    pixels: list[np.ndarray],
    traces: np.ndarray,
    min_overlap: float = 0.3,
    min_correlation: float = 0.5,
    max_plane_gap: int = 1,
    smooth_frames: float = 1.0,
) -> MergeResult:
    """Group ROIs that are one neuron across planes (see the module docstring).

    planes: (rois,) plane of each ROI; centers: (rois, 2) (y, x) in pixels; pixels: linear
    pixel indices (y * width + x) of each ROI's mask in its plane; traces: (rois, frames) ΔF/F.
    Only ROIs whose centres lie within the sum of their radii (from mask areas) are compared, so
    the cost grows with the number of ROIs, not its square.
    """
    from scipy.spatial import cKDTree

    planes = np.asarray(planes, dtype=int)
    n = len(planes)
    if len(pixels) != n or len(traces) != n:
        raise ValueError("merge_across_planes: planes, pixels and traces differ in length")
    smooth = gaussian_filter1d(np.asarray(traces, np.float64), smooth_frames, axis=1)
    smooth -= smooth.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(smooth, axis=1)
    smooth /= np.maximum(norm, 1e-12)[:, None]

    centers = np.asarray(centers, dtype=np.float64).reshape(n, 2)
    radius = np.sqrt(np.array([max(len(p), 1) for p in pixels]) / np.pi)
    candidates = []
    if n > 1:
        near = cKDTree(centers).query_pairs(2.0 * float(radius.max()) + 1.0, output_type="ndarray")
        for i, j in near:
            gap = abs(planes[i] - planes[j])
            if gap == 0 or gap > max_plane_gap:
                continue
            if mask_overlap(pixels[i], pixels[j]) < min_overlap:
                continue
            r = float(smooth[i] @ smooth[j])
            if r >= min_correlation:
                candidates.append((r, int(min(i, j)), int(max(i, j))))
    candidates.sort(reverse=True)

    parent = list(range(n))
    members = {i: {int(planes[i])} for i in range(n)}

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    joined = []
    for _, i, j in candidates:
        ri, rj = root(i), root(j)
        if ri == rj or members[ri] & members[rj]:
            continue
        parent[rj] = ri
        members[ri] |= members.pop(rj)
        joined.append((i, j))

    snr = trace_snr(traces)
    roots: dict[int, list[int]] = {}
    for k in range(n):
        roots.setdefault(root(k), []).append(k)
    groups = [np.array(sorted(g)) for g in roots.values()]
    groups.sort(key=lambda g: int(g[0]))
    representative = np.array([g[np.argmax(snr[g])] for g in groups], dtype=int)
    return MergeResult(
        groups=groups,
        representative=representative,
        pairs=np.array(joined, dtype=int).reshape(-1, 2),
    )
