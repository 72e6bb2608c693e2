"""The ROIs of suite2p planes that are cells: selection by the classifier and the rows the
ΔF/F pipeline (``pipeline.activity_from_planes``) gathers from each plane."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from neurocircuit.imaging.readers import Suite2pPlane

PIXEL_STRIDE = 1 << 20  # linear pixel index y * stride + x; wider than any frame


def select_cells(plane: Suite2pPlane, threshold: float | None) -> np.ndarray:
    """ROI indices kept as cells: iscell probability >= threshold, or iscell labels if None."""
    if threshold is None or plane.iscell.shape[1] < 2:
        return np.flatnonzero(plane.iscell[:, 0] > 0.5)
    return np.flatnonzero(plane.iscell[:, 1] >= threshold)


def gather_cells(
    planes: list[Suite2pPlane], classifier_threshold: float | None, source: str
) -> SimpleNamespace:
    """The ROIs classified as cells in every plane, in plane then ROI order: their plane, ROI
    index, F and Fneu rows, cell probability, flat pixel indices, centres (y, x) and voxels
    (x, y, plane, weight); with the per-plane counts. Raises when no ROI is a cell."""
    cells = SimpleNamespace(
        plane=[], roi=[], F=[], Fneu=[], prob=[], pixels=[], centers=[], voxels=[], n_rois=0
    )
    cells.per_plane = {}
    for plane in planes:
        kept = select_cells(plane, classifier_threshold)
        cells.n_rois += plane.n_rois
        cells.per_plane[f"plane{plane.plane}"] = {
            "n_rois": plane.n_rois,
            "n_cells": int(len(kept)),
        }
        prob_col = 1 if plane.iscell.shape[1] > 1 else 0
        for k in kept:
            stat = plane.stat[k]
            cells.plane.append(plane.plane)
            cells.roi.append(int(k))
            cells.F.append(plane.F[k])
            cells.Fneu.append(plane.Fneu[k])
            cells.prob.append(plane.iscell[k, prob_col])
            ypix, xpix = np.asarray(stat["ypix"]), np.asarray(stat["xpix"])
            cells.pixels.append(ypix.astype(np.int64) * PIXEL_STRIDE + xpix.astype(np.int64))
            cells.centers.append(np.asarray(stat["med"], dtype=np.float64)[:2])
            weight = np.asarray(stat.get("lam", np.ones(len(ypix))), dtype=np.float64)
            z = np.full(len(ypix), plane.plane, dtype=np.float64)
            cells.voxels.append(np.column_stack([xpix, ypix, z, weight]).astype(np.float64))
    if not cells.F:
        rule = "iscell labels" if classifier_threshold is None else f"p >= {classifier_threshold}"
        raise ValueError(f"{source}: no ROI is classified as a cell ({rule}) in any plane")
    return cells
