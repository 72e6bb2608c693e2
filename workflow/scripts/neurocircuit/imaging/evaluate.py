"""Score extracted neurons against a synthetic recording's ground truth.

A found neuron (plane, y, x) matches a simulated soma (z, y, x) when their lateral distance is
at most ``radius_px`` (a soma radius) and their axial distance at most ``max_plane_distance``
planes; matching is one-to-one, minimising total lateral distance (Hungarian algorithm).
recall = matched / simulated, precision = matched / found, and median_corr is the median Pearson
correlation between the extracted ΔF/F and the true clean ΔF/F over matched pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def match_positions(
    found: np.ndarray, true: np.ndarray, radius_px: float, max_plane_distance: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (found_idx, true_idx) of one-to-one matches; found/true are (n, 3) (z, y, x)."""
    found = np.asarray(found, dtype=np.float64).reshape(-1, 3)
    true = np.asarray(true, dtype=np.float64).reshape(-1, 3)
    if len(found) == 0 or len(true) == 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    lateral = np.hypot(found[:, None, 1] - true[None, :, 1], found[:, None, 2] - true[None, :, 2])
    axial = np.abs(found[:, None, 0] - true[None, :, 0])
    allowed = (lateral <= radius_px) & (axial <= max_plane_distance)
    cost = np.where(allowed, lateral + 0.1 * axial, 1e6)
    rows, cols = linear_sum_assignment(cost)
    keep = allowed[rows, cols]
    return rows[keep], cols[keep]


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching rows of a and b (same shape); NaN for a flat row."""
    a = np.asarray(a, np.float64) - np.mean(a, axis=1, keepdims=True)
    b = np.asarray(b, np.float64) - np.mean(b, axis=1, keepdims=True)
    denom = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.sum(a * b, axis=1) / denom, np.nan)


def score_against_truth(
    dff: np.ndarray,
    positions: np.ndarray,
    true_positions: np.ndarray,
    true_dff: np.ndarray,
    radius_px: float,
    max_plane_distance: float = 1.0,
    matches: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """recall, precision, median_corr and counts (see the module docstring); ``matches``:
    (found_idx, true_idx) of :func:`match_positions` when the caller has them already."""
    if matches is None:
        matches = match_positions(positions, true_positions, radius_px, max_plane_distance)
    found_idx, true_idx = matches
    if dff.shape[1] != true_dff.shape[1]:
        raise ValueError(
            f"extracted ΔF/F has {dff.shape[1]} frames, ground truth {true_dff.shape[1]}"
        )
    corr = pearson_rows(dff[found_idx], true_dff[true_idx]) if len(found_idx) else np.zeros(0)
    n_true, n_found = len(true_positions), len(positions)
    return {
        "n_true": int(n_true),
        "n_found": int(n_found),
        "n_matched": int(len(found_idx)),
        "recall": float(len(found_idx) / n_true) if n_true else float("nan"),
        "precision": float(len(found_idx) / n_found) if n_found else float("nan"),
        "median_corr": float(np.nanmedian(corr)) if len(corr) else float("nan"),
        "match_radius_px": float(radius_px),
    }
