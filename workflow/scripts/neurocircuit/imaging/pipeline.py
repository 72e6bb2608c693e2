"""A session's activity file and metrics, from whichever input the session has.

Movie sessions (synthetic, tiff, h5, raw NWB) arrive here as suite2p plane folders written by
the per-plane jobs, plus the split step's movie_info.json (masked volumes); suite2p sessions as
the user's suite2p folder; traces sessions as a traces file; processed NWB sessions as the NWB
file. Plane-based inputs (processed NWB files with ROI masks included) go through the same steps:
select cells, neuropil-correct and compute ΔF/F (masked frames excluded), merge ROIs that are one
neuron across adjacent planes, write ``activity.h5`` (and ``activity.nwb``) and ``metrics.json``.
Synthetic sessions are also scored against their ground truth (recall, precision, median
correlation).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurocircuit.imaging.activity import write_activity
from neurocircuit.imaging.cells import gather_cells
from neurocircuit.imaging.dff import compute_dff, interpolate_masked, usable_frames
from neurocircuit.imaging.merge import merge_across_planes
from neurocircuit.imaging.readers import (
    Suite2pPlane,
    load_suite2p_folder,
    load_suite2p_plane,
    load_traces,
)
from neurocircuit.runtime import config_hash, package_versions, write_json


@dataclass
class ActivityTable:
    """The rows of an activity file and the counts that go into metrics.json.

    F, Fneu: (neurons, frames) raw and neuropil fluorescence of each row's ROI (None when the
    input has none); masks: per row an (n, 4) array of (x, y, plane, weight) pixels, every ROI
    merged into the row (None when the input has no masks).
    """

    dff: np.ndarray
    positions: np.ndarray
    cell_probability: np.ndarray
    frame_valid: np.ndarray
    baseline: np.ndarray
    roi_index: np.ndarray
    merged_rois: np.ndarray
    low_baseline: np.ndarray
    counts: dict = field(default_factory=dict)
    F: np.ndarray | None = None
    Fneu: np.ndarray | None = None
    masks: list[np.ndarray] | None = None


def _dff_kwargs(settings: dict) -> dict:
    baseline = settings["baseline"]
    return {
        "neuropil_coefficient": settings["neuropil_coefficient"],
        "method": baseline["method"],
        "window_s": baseline["window_s"],
        "sigma_s": baseline["sigma_s"],
        "percentile": baseline["percentile"],
        "min_baseline_fraction": baseline["min_baseline_fraction"],
        "max_masked_fraction": settings["masking"]["max_masked_fraction"],
    }


def activity_from_planes(
    planes: list[Suite2pPlane],
    fs_hz: float,
    settings: dict,
    classifier_threshold: float | None,
    valid: np.ndarray | None = None,
    source: str = "suite2p",
) -> ActivityTable:
    """Cells of every plane -> ΔF/F -> one row per neuron (merged across adjacent planes).

    Rows are ordered by plane, then y, then x of the kept ROI.
    """
    cells = gather_cells(planes, classifier_threshold, source)
    plane_of, index_of, F_rows, Fneu_rows = cells.plane, cells.roi, cells.F, cells.Fneu
    prob, pixels, centers, voxels = cells.prob, cells.pixels, cells.centers, cells.voxels
    result = compute_dff(
        np.array(F_rows),
        fs_hz,
        Fneu=np.array(Fneu_rows),
        valid=valid,
        source=source,
        **_dff_kwargs(settings),
    )
    merge = merge_across_planes(
        np.array(plane_of),
        np.array(centers),
        pixels,
        result.dff,
        min_overlap=settings["merge"]["min_overlap"],
        min_correlation=settings["merge"]["min_correlation"],
        max_plane_gap=settings["merge"]["max_plane_gap"],
    )
    keep = merge.representative
    plane_of, centers = np.array(plane_of), np.array(centers)
    positions = np.column_stack([plane_of[keep], centers[keep]]).astype(np.float32)
    order = np.lexsort((positions[:, 2], positions[:, 1], positions[:, 0]))
    keep = keep[order]
    merged = np.array([len(g) for g in merge.groups], dtype=np.int32)[order]
    masks = [np.vstack([voxels[k] for k in merge.groups[g]]) for g in order]
    counts = {
        "n_rois": int(cells.n_rois),
        "n_cells": int(len(F_rows)),
        "n_neurons": int(len(keep)),
        "n_merged": merge.n_merged,
        "n_low_baseline": int(result.low_baseline[keep].sum()),
        "masked_frames": result.masked_frames,
        "planes": cells.per_plane,
    }
    return ActivityTable(
        dff=result.dff[keep],
        positions=positions[order],
        cell_probability=np.array(prob, dtype=np.float32)[keep],
        frame_valid=result.valid,
        baseline=np.median(result.baseline[keep], axis=1).astype(np.float32),
        roi_index=np.array(index_of, dtype=np.int32)[keep],
        merged_rois=merged,
        low_baseline=result.low_baseline[keep],
        counts=counts,
        F=np.array(F_rows)[keep],
        Fneu=np.array(Fneu_rows)[keep],
        masks=masks,
    )


def activity_from_traces(
    traces: np.ndarray, fs_hz: float, settings: dict, source: str = "traces"
) -> ActivityTable:
    """Raw fluorescence traces (neurons × frames, no neuropil) -> ΔF/F rows, one per neuron."""
    kwargs = _dff_kwargs(settings)
    kwargs.pop("neuropil_coefficient")
    result = compute_dff(traces, fs_hz, source=source, **kwargs)
    n = traces.shape[0]
    counts = {
        "n_rois": int(n),
        "n_cells": int(n),
        "n_neurons": int(n),
        "n_merged": 0,
        "n_low_baseline": int(result.low_baseline.sum()),
        "masked_frames": result.masked_frames,
    }
    return ActivityTable(
        dff=result.dff,
        positions=np.full((n, 3), np.nan, dtype=np.float32),
        cell_probability=np.full(n, np.nan, dtype=np.float32),
        frame_valid=result.valid,
        baseline=np.median(result.baseline, axis=1).astype(np.float32),
        roi_index=np.arange(n, dtype=np.int32),
        merged_rois=np.ones(n, dtype=np.int32),
        low_baseline=result.low_baseline,
        counts=counts,
        F=np.asarray(traces, dtype=np.float64),
    )


def activity_from_dff(
    dff: np.ndarray,
    settings: dict,
    positions: np.ndarray,
    cell_probability: np.ndarray,
    masks: list[np.ndarray] | None,
    source: str = "dff",
) -> ActivityTable:
    """ΔF/F computed upstream (neurons × frames) -> rows as they are: non-finite frames masked
    and interpolated over (more than ``masking.max_masked_fraction`` is an error)."""
    dff = np.asarray(dff, dtype=np.float64)
    limit = settings["masking"]["max_masked_fraction"]
    valid = usable_frames(dff, max_masked_fraction=limit, source=source)
    n = dff.shape[0]
    counts = {
        "n_rois": int(n),
        "n_cells": int(n),
        "n_neurons": int(n),
        "n_merged": 0,
        "n_low_baseline": 0,
        "masked_frames": int((~valid).sum()),
    }
    return ActivityTable(
        dff=interpolate_masked(dff, valid).astype(np.float32),
        positions=np.asarray(positions, dtype=np.float32),
        cell_probability=np.asarray(cell_probability, dtype=np.float32),
        frame_valid=valid,
        baseline=np.full(n, np.nan, dtype=np.float32),
        roi_index=np.arange(n, dtype=np.int32),
        merged_rois=np.ones(n, dtype=np.int32),
        low_baseline=np.zeros(n, dtype=bool),
        counts=counts,
        masks=masks,
    )


def _plane_source_files(folders: list[Path]) -> list[str]:
    return [
        str(Path(f) / name)
        for f in folders
        for name in ("F.npy", "Fneu.npy", "iscell.npy", "stat.npy")
    ]


@dataclass
class SessionRows:
    """A session's rows and what the activity files say about them: the files read, the volume
    rate (Hz), the time of the first frame (s), the plane count and, for NWB sources, the source
    file's metadata (``nwb_input.source_metadata``)."""

    table: ActivityTable
    source_files: list[str]
    fs_hz: float
    start_s: float = 0.0
    n_planes: int = 1
    source_metadata: dict | None = None


def _movie_rows(
    session: dict, settings: dict, planes_dir: str | Path, plane_F: list[str | Path], threshold
) -> SessionRows:
    """A movie session's rows from its per-plane suite2p folders, the split step's bad volumes
    masked; with the files read (the movie, each plane's traces)."""
    from neurocircuit.imaging.planes import read_movie_info
    from neurocircuit.imaging.sessions import session_fs_hz

    movie_info = read_movie_info(planes_dir)
    if len(plane_F) != movie_info["n_planes"]:
        raise ValueError(
            f"{movie_info['source_file']}: the movie has {movie_info['n_planes']} planes but "
            f"{len(plane_F)} plane job(s) ran; state n_planes in session '{session['name']}'"
        )
    fs_hz = session_fs_hz(session, settings) or movie_info["volume_rate_hz"]
    folders = [Path(f).parent for f in plane_F]
    planes = [load_suite2p_plane(f, plane=i) for i, f in enumerate(folders)]
    valid = np.ones(movie_info["n_volumes"], dtype=bool)
    valid[movie_info["bad_volumes"]] = False
    table = activity_from_planes(planes, fs_hz, settings, threshold, valid, str(planes_dir))
    table.counts["nan_frames"] = movie_info["nan_frames"]
    table.counts["saturated_frames"] = movie_info["saturated_frames"]
    return SessionRows(
        table,
        [movie_info["source_file"], *_plane_source_files(folders)],
        fs_hz,
        start_s=float(movie_info.get("starting_time_s", 0.0)),
        n_planes=int(movie_info["n_planes"]),
        source_metadata=movie_info.get("nwb_metadata"),
    )


def _nwb_traces_rows(session: dict, settings: dict, path: str | Path) -> SessionRows:
    """A processed NWB session's rows: Fluorescence through the suite2p-folder steps (cell
    labels, neuropil, ΔF/F, merge), DfOverF as it is (cells selected, NaN frames masked)."""
    from neurocircuit.imaging.nwb_traces import load_nwb_traces, roi_centre

    data = load_nwb_traces(path, session.get("nwb_series"), session.get("fs_hz"))
    rate, source = data.volume_rate_hz, str(path)
    known = bool(np.isfinite(data.probability).all())
    threshold = session.get("classifier_threshold") if known else None
    if data.kind == "fluorescence" and data.has_masks:
        table = activity_from_planes(data.as_planes(), rate, settings, threshold, None, source)
        if data.neuropil is None:
            table.Fneu = None  # the zeros that stood in for it
    else:
        cells = data.is_cell if threshold is None else data.probability >= threshold
        keep = np.flatnonzero(cells)
        if not len(keep):
            raise ValueError(f"{path}: no ROI is labelled a cell")
        if data.kind == "dff":
            positions = np.array(
                [
                    [p, *roi_centre(px)[::-1]]  # (plane, row, column), as suite2p's med
                    for p, px in zip(data.planes[keep], [data.pixels[k] for k in keep], strict=True)
                ],
                dtype=np.float64,
            )
            masks = [data.pixels[k] for k in keep] if data.has_masks else None
            prob = data.probability[keep]
            table = activity_from_dff(data.traces[keep], settings, positions, prob, masks, source)
        else:
            table = activity_from_traces(data.traces[keep], rate, settings, source)
    return SessionRows(
        table,
        [str(path)],
        data.volume_rate_hz,
        start_s=data.starting_time_s,
        n_planes=int(data.planes.max()) + 1 if len(data.planes) else 1,
        source_metadata=data.metadata,
    )


def _session_rows(session: dict, settings: dict, inputs: dict) -> SessionRows:
    """The session's rows from the input its source has, and what goes with them.

    ``inputs``: planes_dir and plane_F (movies, raw NWB), suite2p_folder, traces, or nwb
    (processed NWB).
    """
    from neurocircuit.imaging.sessions import session_fs_hz

    source = session["source"]
    if inputs.get("planes_dir") is not None:
        threshold = session.get("classifier_threshold", settings["suite2p"]["classifier_threshold"])
        return _movie_rows(session, settings, inputs["planes_dir"], inputs["plane_F"], threshold)
    if source == "nwb":
        return _nwb_traces_rows(session, settings, inputs["nwb"])
    fs_hz = session_fs_hz(session, settings)
    if source == "suite2p":
        folder = inputs["suite2p_folder"]
        planes = load_suite2p_folder(folder, n_planes=session.get("n_planes"))
        threshold = session.get("classifier_threshold")  # None: the folder's own iscell labels
        table = activity_from_planes(planes, fs_hz, settings, threshold, None, str(folder))
        files = _plane_source_files([p.folder for p in planes])
        return SessionRows(table, files, fs_hz, n_planes=len(planes))
    if source == "traces":
        traces = inputs["traces"]
        raw = load_traces(traces, key=session.get("h5_key", "data"))
        table = activity_from_traces(raw, fs_hz, settings, source=str(traces))
        return SessionRows(table, [str(traces)], fs_hz)
    raise ValueError(f"session '{session['name']}': unknown source '{source}'")


def _activity_attrs(
    session: dict, settings: dict, table: ActivityTable, fs_hz: float, source_files: list[str]
) -> dict:
    """Provenance and settings stored with the activity file: config hash of the session and
    imaging settings, package versions, the files read, the ΔF/F settings."""
    provenance = {
        "session": session,
        "imaging": {k: v for k, v in settings.items() if k != "sessions"},
    }
    return {
        "session": session["name"],
        "source": session["source"],
        "fs_hz": fs_hz,
        "masked_frames": table.counts["masked_frames"],
        "n_rois": table.counts["n_rois"],
        "neuropil_coefficient": float(settings["neuropil_coefficient"]),
        "baseline_method": settings["baseline"]["method"],
        "baseline_window_s": float(settings["baseline"]["window_s"]),
        "config_hash": config_hash(provenance),
        "package_versions": package_versions(),
        "source_files": source_files,
        "masked_frames_filled": "linear interpolation; see frame_valid",
    }


def _write_activity_table(
    path: str | Path,
    table: ActivityTable,
    time_s: np.ndarray,
    attrs: dict,
    truth_index: np.ndarray | None = None,
) -> None:
    """Write the rows, the time axis (s) and the per-row extras to ``path`` (activity.h5);
    ``truth_index`` (synthetic sessions): each row's simulated neuron, -1 when unmatched."""
    extra = {
        "frame_valid": table.frame_valid,
        "baseline": table.baseline,
        "roi_index": table.roi_index,
        "merged_rois": table.merged_rois,
        "low_baseline": table.low_baseline,
    }
    if truth_index is not None:
        extra["truth_index"] = truth_index
    write_activity(path, table.dff, time_s, table.positions, table.cell_probability, attrs, extra)


def _first_file_time(files: list[str]) -> datetime.datetime:
    """Modification time (UTC) of the first source file that exists, else now."""
    for name in files:
        if Path(name).exists():
            stamp = Path(name).stat().st_mtime
            return datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC)
    return datetime.datetime.now(datetime.UTC)


def build_session_activity(
    session: dict,
    settings: dict,
    activity_path: str | Path,
    metrics_path: str | Path,
    nwb_path: str | Path | None = None,
    planes_dir: str | Path | None = None,
    plane_F: list[str | Path] | None = None,
    truth: str | Path | None = None,
    suite2p_folder: str | Path | None = None,
    traces: str | Path | None = None,
    nwb: str | Path | None = None,
    logger=None,
) -> dict:
    """Write a session's activity.h5, metrics.json and (given ``nwb_path``) activity.nwb;
    return the metrics.

    session: one entry of ``imaging.sessions`` (name, source, fs_hz, ...); settings: the whole
    ``imaging`` config section. Pass the inputs of the session's source: planes_dir and
    plane_F (the F.npy of each plane folder, in plane order; + truth for synthetic) for movies
    and raw NWB files, suite2p_folder, traces, or nwb (a processed NWB file).
    """
    from neurocircuit.imaging.activity_nwb import nwb_metadata, write_activity_nwb

    inputs = {
        "planes_dir": planes_dir,
        "plane_F": plane_F,
        "suite2p_folder": suite2p_folder,
        "traces": traces,
        "nwb": nwb,
    }
    rows = _session_rows(session, settings, inputs)
    table, fs_hz = rows.table, rows.fs_hz
    attrs = _activity_attrs(session, settings, table, fs_hz, rows.source_files)
    n_frames = table.dff.shape[1]
    metrics = {
        "session": session["name"],
        "source": session["source"],
        "fs_hz": fs_hz,
        "n_frames": int(n_frames),
        **table.counts,
        "config_hash": attrs["config_hash"],
    }
    truth_index = None
    if session["source"] == "synthetic":
        scores, truth_index = _score_synthetic(table, truth, settings)
        metrics.update(scores)
    time_s = rows.start_s + np.arange(n_frames) / fs_hz
    if nwb_path is not None:
        fallback = _first_file_time(rows.source_files)
        meta = nwb_metadata(session, rows.source_metadata, fallback, rows.n_planes, logger)
        write_activity_nwb(
            nwb_path, table, time_s, fs_hz, rows.n_planes, session, attrs, meta, truth_index
        )
    try:
        _write_activity_table(activity_path, table, time_s, attrs, truth_index)
        write_json(metrics, metrics_path)
    except BaseException:
        for path in (nwb_path, activity_path):
            if path is not None:
                Path(path).unlink(missing_ok=True)
        raise
    if logger:
        summary = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
        logger.info("%s: %s", session["name"], summary)
    return metrics


def _score_synthetic(table: ActivityTable, truth_path: str | Path, settings: dict):
    """(recall and correlation scores, truth_index): each row's matched simulated neuron (-1
    when unmatched), the one matching behind ``recall`` (later stages read it)."""
    from neurocircuit.imaging.evaluate import match_positions, score_against_truth
    from neurocircuit.imaging.synthetic import read_ground_truth

    truth = read_ground_truth(truth_path)
    radius = settings["evaluation"]["match_radius_px"] or truth["spec"]["soma_radius_px"]
    max_plane_distance = settings["evaluation"]["max_plane_distance"]
    found, true = match_positions(table.positions, truth["positions"], radius, max_plane_distance)
    scores = score_against_truth(
        table.dff,
        table.positions,
        truth["positions"],
        truth["dff"],
        radius_px=radius,
        max_plane_distance=max_plane_distance,
        matches=(found, true),
    )
    truth_index = np.full(len(table.positions), -1, dtype=np.int32)
    truth_index[found] = true
    return scores, truth_index
