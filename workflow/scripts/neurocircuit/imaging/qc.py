"""Quality-control figure of a session: planes with ROI outlines, ΔF/F raster, example traces.

Top row: the registered mean image of each plane (up to four, evenly chosen) with the outlines
of the ROIs kept as neurons (orange) and of the other ROIs (blue: rejected by the classifier, or
merged into the same neuron's row in another plane). Without a mean image (a suite2p folder
without ops.npy) the ROI footprints stand in; without planes (a traces input) the population
mean ΔF/F is shown. Middle: the ΔF/F raster. Bottom: the traces with the best signal-to-noise
ratio. Colours are from the Okabe–Ito palette (colour-blind safe).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neurocircuit.imaging.activity import read_activity
from neurocircuit.imaging.merge import trace_snr
from neurocircuit.runtime import atomic_path

KEPT_COLOUR = (0.902, 0.624, 0.0)  # Okabe-Ito orange
OTHER_COLOUR = (0.337, 0.706, 0.914)  # Okabe-Ito sky blue
TRACE_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]


def roi_outline_overlay(stats, shape: tuple[int, int], colours: list) -> np.ndarray:
    """RGBA image (H, W, 4) with the one-pixel outline of each ROI in its colour."""
    from scipy.ndimage import binary_erosion

    overlay = np.zeros((*shape, 4))
    for stat, colour in zip(stats, colours, strict=True):
        ypix, xpix = np.asarray(stat["ypix"]), np.asarray(stat["xpix"])
        inside = (ypix >= 0) & (ypix < shape[0]) & (xpix >= 0) & (xpix < shape[1])
        ypix, xpix = ypix[inside], xpix[inside]
        if ypix.size == 0:
            continue
        y0, x0 = ypix.min() - 1, xpix.min() - 1
        box = np.zeros((ypix.max() - y0 + 2, xpix.max() - x0 + 2), dtype=bool)
        box[ypix - y0, xpix - x0] = True
        edge = box & ~binary_erosion(box)
        ey, ex = np.nonzero(edge)
        ey, ex = ey + y0, ex + x0
        ok = (ey >= 0) & (ey < shape[0]) & (ex >= 0) & (ex < shape[1])
        overlay[ey[ok], ex[ok]] = (*colour, 1.0)
    return overlay


def _plane_panel(ax, folder: Path, plane: int, kept_rows: set[int]) -> None:
    from neurocircuit.imaging.readers import load_suite2p_plane

    data = load_suite2p_plane(folder, plane=plane)
    stats = list(data.stat)
    if data.mean_image is not None:
        image = np.asarray(data.mean_image, dtype=np.float64)
        label = "mean image"
    else:
        height = max(int(np.max(s["ypix"])) for s in stats) + 1
        width = max(int(np.max(s["xpix"])) for s in stats) + 1
        image = np.zeros((height, width))
        for s in stats:
            image[s["ypix"], s["xpix"]] += np.asarray(s.get("lam", 1.0), dtype=np.float64)
        label = "ROI footprints (no mean image)"
    lo, hi = np.percentile(image, [1, 99.5])
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1)
    colours = [KEPT_COLOUR if k in kept_rows else OTHER_COLOUR for k in range(len(stats))]
    ax.imshow(roi_outline_overlay(stats, image.shape, colours), interpolation="nearest")
    ax.set_title(
        f"plane {plane}: {label}\n{len(kept_rows)} neurons of {len(stats)} ROIs", fontsize=9
    )
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")


def _shown_planes(folders: list[Path]) -> list[Path]:
    """The plane folders drawn in the top row: all, or four evenly chosen."""
    if len(folders) <= 4:
        return folders
    return [folders[i] for i in np.linspace(0, len(folders) - 1, 4).round().astype(int)]


def _planes_row(fig, grid, shown: list[Path], folders: list[Path], activity: dict) -> None:
    """Top row: each shown plane with its ROI outlines (kept rows orange), legend at the right."""
    from matplotlib.lines import Line2D

    roi_index = activity.get("roi_index", np.arange(len(activity["dff"])))
    plane_of_row = activity["positions"][:, 0]
    for col, folder in enumerate(shown):
        plane = folders.index(folder)
        kept = {int(r) for r, p in zip(roi_index, plane_of_row, strict=True) if p == plane}
        _plane_panel(fig.add_subplot(grid[0, col]), folder, plane, kept)
    handles = [
        Line2D([], [], color=KEPT_COLOUR, lw=2, label="neuron (kept row)"),
        Line2D([], [], color=OTHER_COLOUR, lw=2, label="other ROI"),
    ]
    fig.axes[-1].legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False
    )


def _population_mean_row(fig, grid, time_s: np.ndarray, dff: np.ndarray) -> None:
    """Top row of a traces input (no planes): the population mean ΔF/F against time (s)."""
    ax = fig.add_subplot(grid[0, :])
    ax.plot(time_s, dff.mean(axis=0), color=TRACE_COLOURS[0], lw=0.8)
    ax.set_title("traces input (no imaging planes): population mean ΔF/F", fontsize=9)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mean ΔF/F")


def _raster_row(fig, grid, activity: dict, from_planes: bool) -> None:
    """Middle row: the ΔF/F raster (robust colour limits), masked frames ticked above it."""
    from matplotlib.ticker import MaxNLocator

    dff, time_s = activity["dff"], activity["time_s"]
    ax = fig.add_subplot(grid[1, :])
    # Robust colour limits: typical neurons set the scale, one noisy ROI cannot wash it out.
    lo = float(np.median(np.percentile(dff, 1, axis=1)))
    hi = float(np.percentile(np.percentile(dff, 99.5, axis=1), 75))
    hi = hi if hi > lo else lo + 1.0
    extent = (time_s[0], time_s[-1], len(dff) - 0.5, -0.5)
    im = ax.imshow(
        dff, aspect="auto", cmap="magma", vmin=lo, vmax=hi, extent=extent, interpolation="nearest"
    )
    masked = np.flatnonzero(~activity.get("frame_valid", np.ones(len(time_s), bool)))
    if masked.size:
        ax.plot(
            time_s[masked],
            np.full(masked.size, -0.5),
            "|",
            color="#009E73",
            ms=6,
            label=f"masked frames ({masked.size})",
        )
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("time (s)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("neuron (by plane, y, x)" if from_planes else "neuron (file order)")
    ax.set_title("ΔF/F raster", fontsize=9)
    fig.colorbar(im, ax=ax, label="ΔF/F (colour clipped to typical range)", fraction=0.03)


def _examples_row(fig, grid, activity: dict, n_examples: int) -> None:
    """Bottom row: the ``n_examples`` traces with the best signal-to-noise ratio, offset."""
    dff, time_s, positions = activity["dff"], activity["time_s"], activity["positions"]
    ax = fig.add_subplot(grid[2, :])
    best = np.argsort(trace_snr(dff))[::-1][: min(n_examples, len(dff))]
    spread = [np.percentile(dff[row], 99.5) - np.percentile(dff[row], 0.5) for row in best]
    spacing = 1.15 * max(max(spread), 1e-6)
    for k, row in enumerate(best):
        plane = "" if np.isnan(positions[row, 0]) else f", plane {int(positions[row, 0])}"
        ax.plot(
            time_s,
            dff[row] - k * spacing,
            lw=0.8,
            label=f"neuron {row}{plane}",
            color=TRACE_COLOURS[k % len(TRACE_COLOURS)],
        )
    ax.set_yticks([-k * spacing for k in range(len(best))], [str(r) for r in best])
    ax.set_xlim(time_s[0], time_s[-1])
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"neuron (traces offset by {spacing:.2g} ΔF/F)")
    ax.set_title("example neurons (highest signal-to-noise)", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)


def _qc_title(activity: dict, metrics: dict) -> str:
    """One line: session and source, size and rate, masked frames, and for synthetic sessions
    the recall and median correlation against the ground truth."""
    attrs, dff = activity["attrs"], activity["dff"]
    summary = [
        f"session {attrs.get('session', '?')} ({attrs.get('source', '?')})",
        f"{dff.shape[0]} neurons × {dff.shape[1]} frames at {float(attrs['fs_hz']):.3g} Hz",
        f"masked frames {int(attrs.get('masked_frames', 0))}",
    ]
    if "recall" in metrics:
        summary.append(f"recall {metrics['recall']:.2f}, median corr {metrics['median_corr']:.2f}")
    return " · ".join(summary)


def plot_imaging_qc(
    activity_path: str | Path,
    png_path: str | Path,
    pdf_path: str | Path,
    plane_folders: list[str | Path] | None = None,
    metrics_path: str | Path | None = None,
    n_examples: int = 6,
) -> None:
    """Draw the QC figure of one session (see the module docstring) as PNG and PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    activity = read_activity(activity_path)
    folders = [Path(f) for f in (plane_folders or [])]
    metrics = json.loads(Path(metrics_path).read_text()) if metrics_path else {}
    shown = _shown_planes(folders)
    n_top = max(len(shown), 1)
    fig = plt.figure(figsize=(3.2 * max(n_top, 3), 10.5), constrained_layout=True)
    grid = fig.add_gridspec(3, n_top, height_ratios=[1.15, 1.0, 1.1])
    if shown:
        _planes_row(fig, grid, shown, folders, activity)
    else:
        _population_mean_row(fig, grid, activity["time_s"], activity["dff"])
    _raster_row(fig, grid, activity, from_planes=bool(shown))
    _examples_row(fig, grid, activity, n_examples)
    fig.suptitle(_qc_title(activity, metrics), fontsize=11)
    for path, kwargs in ((png_path, {"dpi": 110}), (pdf_path, {})):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip("."), **kwargs)
    plt.close(fig)


def draw_session_qc(
    activity: str | Path,
    metrics: str | Path,
    png: str | Path,
    pdf: str | Path,
    plane_F: list[str | Path] | None = None,
    suite2p_folder: str | Path | None = None,
    logger=None,
) -> None:
    """QC figure of a session from its rule inputs: plane F.npy files or a suite2p folder.

    ``logger`` (optional) gets one line naming the PNG written.
    """
    from neurocircuit.imaging.readers import find_plane_folders

    if plane_F:
        folders = [Path(f).parent for f in plane_F]
    elif suite2p_folder:
        folders = find_plane_folders(suite2p_folder)
    else:
        folders = []
    plot_imaging_qc(activity, png, pdf, plane_folders=folders, metrics_path=metrics)
    if logger:
        logger.info("wrote %s", png)
