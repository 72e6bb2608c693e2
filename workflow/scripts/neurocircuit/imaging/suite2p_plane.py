"""Registration, cell detection and extraction of one plane with suite2p 1.1 (its API).

Each plane is its own job: ``run_suite2p_plane`` builds suite2p's ``db`` for one plane binary
written by ``planes.split_movie_into_planes`` and calls ``suite2p.run_plane``, which runs
``registration_wrapper``, ``detection_wrapper``, ``extraction_wrapper``, deconvolution and the
built-in ROI classifier. The result is an ordinary suite2p plane folder (F.npy, Fneu.npy,
iscell.npy, stat.npy, ops.npy, ...) that suite2p's GUI opens, written under a temporary name and
moved into place only when complete. The registered binary (data.bin) is deleted unless asked
for, because the activity needs only the traces and the mean image.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from neurocircuit.imaging.planes import plane_binary_name, read_movie_info

PLANE_OUTPUTS = ("F.npy", "Fneu.npy", "iscell.npy", "stat.npy", "ops.npy")


def sparsery_spatial_scale(setting: int | None, diameter_px: float) -> int:
    """sparsery's spatial scale (its cell size is 3·2^scale px): ``setting``, or from diameter.

    None picks the scale nearest the expected soma diameter, because suite2p's own estimate
    (setting 0) can go wrong on small fields of view (it guessed 48 px on a 64×64 plane of
    10 px somata).
    """
    if setting is not None:
        return int(setting)
    return int(np.clip(np.round(np.log2(diameter_px / 3.0)), 1, 4))


def build_suite2p_settings(params: dict, fs_hz: float, device: str, n_frames: int) -> dict:
    """suite2p settings (``suite2p.default_settings()`` updated from the config).

    params: the config's ``imaging.suite2p`` mapping (tau_s, diameter_px, nonrigid,
    detection_algorithm, threshold_scaling, spatial_scale, nimg_init, batch_size, bin_size,
    block_size_px, neuropil_coefficient, ...). ``registration.nimg_init`` is capped at the frame
    count.
    """
    import suite2p

    settings = suite2p.default_settings()
    settings["torch_device"] = device
    settings["fs"] = float(fs_hz)
    settings["tau"] = float(params["tau_s"])
    settings["diameter"] = [float(params["diameter_px"])] * 2
    reg = settings["registration"]
    reg["nonrigid"] = bool(params["nonrigid"])
    reg["block_size"] = tuple(int(b) for b in params["block_size_px"])
    reg["nimg_init"] = int(min(params["nimg_init"], n_frames))
    reg["batch_size"] = int(params["batch_size"])
    reg["maxregshift"] = float(params["maxregshift"])
    det = settings["detection"]
    det["algorithm"] = params["detection_algorithm"]
    det["threshold_scaling"] = float(params["threshold_scaling"])
    det["bin_size"] = params.get("bin_size")
    det["highpass_time"] = int(params["highpass_time"])
    det["max_overlap"] = float(params["max_overlap"])
    det["sparsery_settings"]["spatial_scale"] = sparsery_spatial_scale(
        params.get("spatial_scale"), float(params["diameter_px"])
    )
    settings["extraction"]["neuropil_coefficient"] = float(params["neuropil_coefficient"])
    settings["extraction"]["batch_size"] = int(params["batch_size"])
    settings["run"]["do_regmetrics"] = bool(params["registration_metrics"])
    settings["classification"]["use_builtin_classifier"] = True
    settings["io"]["save_ops_orig"] = True
    settings["io"]["delete_bin"] = False
    settings["io"]["move_bin"] = False
    return settings


def checked_plane_binary(planes_dir: str | Path, plane: int, info: dict) -> Path:
    """Path of plane ``plane``'s raw binary, after checking that the movie has that plane and
    that the file holds exactly frames × height × width int16 values."""
    if not 0 <= plane < info["n_planes"]:
        raise ValueError(
            f"{planes_dir}: plane {plane} requested but the movie has {info['n_planes']} planes"
        )
    raw_file = Path(planes_dir) / plane_binary_name(plane)
    if not raw_file.exists():
        raise FileNotFoundError(f"{raw_file}: plane binary not found")
    expected = info["n_volumes"] * info["height"] * info["width"] * 2
    if raw_file.stat().st_size != expected:
        raise ValueError(f"{raw_file}: {raw_file.stat().st_size} bytes, expected {expected}")
    return raw_file


def suite2p_db(work: Path, raw_file: Path, plane: int, info: dict) -> dict:
    """suite2p's ``db`` for one plane: every path in the work folder ``work``, the raw binary
    read in place, one channel, one plane, the movie's frame count and size."""
    import suite2p

    db = suite2p.default_db()
    db.update(
        {
            "data_path": [str(work)],
            "save_path0": str(work),
            "save_folder": ".",
            "save_path": str(work),
            "fast_disk": str(work),
            "db_path": str(work / "db.npy"),
            "settings_path": str(work / "settings.npy"),
            "reg_file": str(work / "data.bin"),
            "raw_file": str(raw_file.resolve()),
            "keep_movie_raw": True,
            "nchannels": 1,
            "nplanes": 1,
            "iplane": plane,
            "nframes": info["n_volumes"],
            "Ly": info["height"],
            "Lx": info["width"],
        }
    )
    return db


def _send_suite2p_logs_to(logger) -> None:
    """suite2p's own log messages go to ``logger``'s handlers (console and the rule's log)."""
    s2p_logger = logging.getLogger("suite2p")
    s2p_logger.setLevel(logging.INFO)
    s2p_logger.handlers = list(logger.handlers)
    s2p_logger.propagate = False


def _move_plane_outputs(work: Path, out_dir: Path, keep_registered_movie: bool) -> None:
    """Move suite2p's files from ``work`` into ``out_dir``, the PLANE_OUTPUTS last (a folder
    holding them is complete); the registered movie (data.bin) only when kept."""
    if not keep_registered_movie:
        (work / "data.bin").unlink(missing_ok=True)
    for name in sorted(os.listdir(work)):
        if name not in PLANE_OUTPUTS and name != "data.bin":
            os.replace(work / name, out_dir / name)
    if keep_registered_movie:
        os.replace(work / "data.bin", out_dir / "data.bin")
    for name in PLANE_OUTPUTS:
        os.replace(work / name, out_dir / name)


def _run_in_work_folder(
    raw_file: Path,
    plane: int,
    info: dict,
    out_dir: Path,
    settings: dict,
    keep_registered_movie: bool,
):
    """Run suite2p on ``raw_file`` in a temporary work folder inside ``out_dir``, with the
    movie's bad volumes excluded, and move its results out. Returns (stat, iscell, timings).
    """
    import suite2p

    work = Path(tempfile.mkdtemp(prefix=".suite2p.", dir=out_dir))
    try:
        np.save(work / "bad_frames.npy", np.asarray(info["bad_volumes"], dtype=np.int64))
        db = suite2p_db(work, raw_file, plane, info)
        outputs = suite2p.run_plane(db=db, settings=settings)
        stat, iscell, timings = outputs[2], outputs[8], outputs[11]
        if stat is None or len(stat) == 0 or iscell is None:
            raise ValueError(f"{raw_file}: suite2p found no ROIs in plane {plane}")
        _move_plane_outputs(work, out_dir, keep_registered_movie)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return stat, iscell, timings


def run_suite2p_plane(
    planes_dir: str | Path,
    plane: int,
    out_dir: str | Path,
    params: dict,
    device: str = "auto",
    threads: int = 1,
    keep_registered_movie: bool = False,
    logger=None,
) -> dict:
    """Run suite2p on plane ``plane`` of a split movie; fill ``out_dir`` with a plane folder.

    device: "auto", "cpu" or "cuda" (resolved by ``runtime.select_device``). Returns a summary:
    n_rois, n_cells (suite2p's own iscell), frame count and suite2p's timings per step.
    """
    from neurocircuit.runtime import select_device, set_threads

    set_threads(threads)
    info = read_movie_info(planes_dir)
    raw_file = checked_plane_binary(planes_dir, plane, info)
    n_frames = info["n_volumes"]
    torch_device = str(select_device(device))

    import suite2p

    settings = build_suite2p_settings(params, info["volume_rate_hz"], torch_device, n_frames)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if logger:
        _send_suite2p_logs_to(logger)
        logger.info(
            "suite2p %s on plane %d (%d frames, device %s, %d threads)",
            suite2p.version,
            plane,
            n_frames,
            torch_device,
            threads,
        )
    stat, iscell, timings = _run_in_work_folder(
        raw_file, plane, info, out_dir, settings, keep_registered_movie
    )
    summary = {
        "plane": plane,
        "n_frames": n_frames,
        "n_rois": int(len(stat)),
        "n_cells_suite2p": int(np.sum(iscell[:, 0])),
        "timings_s": {k: float(v) for k, v in timings.items()},
    }
    if logger:
        logger.info(
            "plane %d: %d ROIs, %d classified as cells; %s",
            plane,
            summary["n_rois"],
            summary["n_cells_suite2p"],
            summary["timings_s"],
        )
    return summary
