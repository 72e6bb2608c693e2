"""NWB image axes against other writers (docs/imaging.md, "NWB image axes").

Files written by suite2p's own ``save_nwb`` and by pynwb in a converter's layout (neuroconv: one
TwoPhotonSeries and one PlaneSegmentation per plane, each with its own ImagingPlane; frames and
image masks transposed to (x = column, y = row), pixel masks row first) are read, and every
neuron's plane, row and column must equal what the suite2p folder (stat.npy) or the TIFF says.
The field of view is not square (24 rows × 40 columns), so a swap cannot go unnoticed.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest
from helpers.nwb_files import add_imaging_plane, new_nwbfile, serious_inspector_messages, write
from neurocircuit.config import validate_config
from neurocircuit.imaging.activity import read_activity
from neurocircuit.imaging.nwb_input import open_nwb, open_nwb_movie
from neurocircuit.imaging.nwb_traces import load_nwb_traces, roi_centre
from neurocircuit.imaging.pipeline import build_session_activity
from neurocircuit.imaging.readers import load_suite2p_folder, open_movie

ROOT = Path(__file__).resolve().parents[2]
LY, LX, N_FRAMES, FS_HZ = 24, 40, 300, 5.0
CENTRES = [[(5, 30), (18, 7)], [(6, 12), (19, 33)]]
"""(row, column) of each ROI's centre, per plane."""
MOUSE = {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"}


@pytest.fixture(scope="module")
def settings():
    config = validate_config({}, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    return {k: v for k, v in config["imaging"].items() if k != "sessions"}


def write_suite2p_folder(folder: Path) -> Path:
    """A tiny suite2p output (plane0/, plane1/): 5×5 square ROIs at CENTRES, spiky traces."""
    rng = np.random.default_rng(3)
    kernel = np.exp(-np.arange(30) / 8.0)
    for plane, centres in enumerate(CENTRES):
        out = folder / f"plane{plane}"
        out.mkdir(parents=True)
        stat = []
        for row, col in centres:
            yy, xx = np.mgrid[-2:3, -2:3]
            ypix, xpix = (yy.ravel() + row).astype(np.int32), (xx.ravel() + col).astype(np.int32)
            lam = np.linspace(1.0, 2.0, 25, dtype=np.float32)
            med = [float(np.median(ypix)), float(np.median(xpix))]
            stat.append({"ypix": ypix, "xpix": xpix, "lam": lam, "npix": 25, "med": med})
        np.save(out / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
        spikes = rng.random((len(centres), N_FRAMES)) < 0.03
        calcium = np.array([np.convolve(s, kernel)[:N_FRAMES] for s in spikes])
        F = (150 + 80 * calcium + rng.normal(0, 1, calcium.shape)).astype(np.float32)
        np.save(out / "F.npy", F)
        np.save(out / "Fneu.npy", np.full_like(F, 50.0))
        np.save(out / "spks.npy", spikes.astype(np.float32))
        np.save(out / "iscell.npy", np.array([[1.0, 0.9]] * len(centres)))
        settings = {"fs": FS_HZ, "date_proc": datetime.datetime(2024, 1, 2, 9, 30)}
        np.save(out / "settings.npy", settings, allow_pickle=True)
        db = {"data_path": [str(folder)], "Ly": LY, "Lx": LX, "nplanes": len(CENTRES)}
        db |= {"nframes": N_FRAMES, "nchannels": 1}
        np.save(out / "db.npy", db, allow_pickle=True)
    return folder


def suite2p_save_nwb(folder: Path, monkeypatch) -> Path:
    """suite2p's own ``save_nwb`` on ``folder``, patched only as far as the pinned pynwb needs:
    its external TwoPhotonSeries gets ``num_samples`` (pynwb refuses one without)."""
    from suite2p.io import nwb as suite2p_nwb

    original = suite2p_nwb.TwoPhotonSeries

    def two_photon_series(**kwargs):
        return original(num_samples=N_FRAMES, **kwargs)

    monkeypatch.setattr(suite2p_nwb, "TwoPhotonSeries", two_photon_series)
    suite2p_nwb.save_nwb(str(folder))
    return folder / "ophys.nwb"


def folder_rois() -> list[tuple[int, set, list[float]]]:
    """(plane, {(row, column)}, med) of every ROI of the suite2p folder, in file order."""
    return [
        (p, {(r + dy, c + dx) for dy in range(-2, 3) for dx in range(-2, 3)}, [r, c])
        for p, centres in enumerate(CENTRES)
        for r, c in centres
    ]


def nwb_rois(path: Path) -> list[tuple[int, set, list[float]]]:
    """The same, as the workflow reads them from an NWB file."""
    data = load_nwb_traces(path)
    rois = []
    for plane, pixels in zip(data.planes, data.pixels, strict=True):
        x, y = pixels[:, 0].astype(int), pixels[:, 1].astype(int)
        rois.append((int(plane), set(zip(y.tolist(), x.tolist(), strict=True))))
    meds = [s["med"] for p in data.as_planes() for s in p.stat]
    return [(p, px, med) for (p, px), med in zip(rois, meds, strict=True)]


def run(settings, folder: Path, session: dict, **inputs) -> dict:
    build_session_activity(
        session,
        settings,
        folder / "activity.h5",
        folder / "metrics.json",
        nwb_path=folder / "activity.nwb",
        **inputs,
    )
    return read_activity(folder / "activity.h5")


def test_suite2p_written_nwb_reads_with_the_folders_positions(settings, tmp_path, monkeypatch):
    folder = write_suite2p_folder(tmp_path / "s2p")
    path = suite2p_save_nwb(folder, monkeypatch)
    with open_nwb(path) as nwbfile:  # suite2p's file as written: ypix in the field named x
        table = nwbfile.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        assert tuple(table["voxel_mask"][0][0])[:3] == (3, 28, 0)
    assert nwb_rois(path) == folder_rois()
    base = {"fs_hz": FS_HZ, "subject": MOUSE, "classifier_threshold": 0.5}
    base |= {"location": "VISp"}  # over suite2p's fixed "V1", which is no Allen CCF term
    direct = run(
        settings,
        tmp_path / "folder",
        {"name": "f", "source": "suite2p", "path": str(folder), **base},
        suite2p_folder=folder,
    )
    via_nwb = run(
        settings,
        tmp_path / "nwb",
        {"name": "n", "source": "nwb", "path": str(path), **base},
        nwb=path,
    )
    expected = sorted([p, r, c] for p, centres in enumerate(CENTRES) for r, c in centres)
    assert direct["positions"].tolist() == expected
    assert np.array_equal(via_nwb["positions"], direct["positions"])
    assert np.array_equal(via_nwb["dff"], direct["dff"])
    # The workflow's own activity.nwb: masks written row first, read back to the same places.
    own = tmp_path / "nwb" / "activity.nwb"
    again = run(
        settings,
        tmp_path / "again",
        {"name": "a", "source": "nwb", "path": str(own), **base},
        nwb=own,
    )
    assert np.array_equal(again["positions"], direct["positions"])
    with open_nwb(own) as nwbfile:
        table = nwbfile.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        first = np.array([tuple(v) for v in table["voxel_mask"][0]])
    row, col = expected[0][1:]
    assert (first[:, 0].min(), first[:, 0].max(), first[:, 1].min()) == (row - 2, row + 2, col - 2)
    assert serious_inspector_messages(own) == []


def write_converter_nwb(path: Path, movie: np.ndarray, masks: str) -> Path:
    """``movie`` (volumes, planes, Y, X) and the ROIs of CENTRES as a converter (neuroconv)
    lays them out: per plane an ImagingPlane, a TwoPhotonSeries of frames transposed to
    (x, y), a PlaneSegmentation (``masks`` "pixel": rows first, as roiextractors' [y, x,
    weight]; "image": (x, y), transposed) and a Fluorescence series."""
    from pynwb.ophys import Fluorescence, ImageSegmentation, TwoPhotonSeries

    nwbfile = new_nwbfile()
    ophys = nwbfile.create_processing_module("ophys", "processed")
    segmentation, fluorescence = ImageSegmentation(), Fluorescence(name="Fluorescence")
    ophys.add(segmentation)
    ophys.add(fluorescence)
    rois = folder_rois()
    for k in range(movie.shape[1]):
        plane = add_imaging_plane(nwbfile, f"ImagingPlane{k}", FS_HZ)
        frames = np.ascontiguousarray(movie[:, k].transpose(0, 2, 1))
        nwbfile.add_acquisition(
            TwoPhotonSeries(
                name=f"TwoPhotonSeries{k}",
                data=frames,
                imaging_plane=plane,
                rate=FS_HZ,
                unit="n.a.",
            )
        )
        table = segmentation.create_plane_segmentation(
            name=f"PlaneSegmentation{k}", description="ROIs", imaging_plane=plane
        )
        for _, pixels, _ in (roi for roi in rois if roi[0] == k):
            if masks == "pixel":
                table.add_roi(pixel_mask=[(r, c, 1.0) for r, c in sorted(pixels)])
            else:
                image = np.zeros((LY, LX))
                image[tuple(np.array(sorted(pixels)).T)] = 1.0
                table.add_roi(image_mask=image.T)
        n = len(table)
        fluorescence.create_roi_response_series(
            name=f"plane{k}",
            data=np.random.default_rng(k).random((N_FRAMES, n)),
            rois=table.create_roi_table_region(description=f"plane {k}", region=list(range(n))),
            unit="a.u.",
            rate=FS_HZ,
        )
    return write(nwbfile, path)


@pytest.mark.parametrize("masks", ["pixel", "image"])
def test_converter_layout_matches_the_tiff_and_the_folder(tmp_path, masks):
    import tifffile

    movie = np.random.default_rng(0).integers(0, 4000, (6, 2, LY, LX)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "m.tif", movie.reshape(-1, LY, LX), photometric="minisblack")
    path = write_converter_nwb(tmp_path / "c.nwb", movie, masks)
    tiff = open_movie(tmp_path / "m.tif", 2)
    nwb = open_nwb_movie(path, nwb_series=["TwoPhotonSeries0", "TwoPhotonSeries1"])
    assert (nwb.layout, nwb.height, nwb.width) == ("per_plane", LY, LX)
    for plane in range(2):
        assert np.array_equal(nwb.read_plane(plane), tiff.read_plane(plane))
    assert [(p, px, med) for p, px, med in nwb_rois(path)] == folder_rois()


def test_folder_reader_agrees_with_the_rois_written(tmp_path):
    """The suite2p folder the tests build says what folder_rois says (the reference)."""
    planes = load_suite2p_folder(write_suite2p_folder(tmp_path / "s"))
    found = [
        (p.plane, set(zip(s["ypix"].tolist(), s["xpix"].tolist(), strict=True)), s["med"])
        for p in planes
        for s in p.stat
    ]
    assert found == folder_rois()


def test_roi_centre_is_the_pixel_suite2p_calls_med():
    """suite2p's med is the ROI pixel closest to the pixels' median (stats.median_pix), not the
    median itself, which for a ring lies outside the ROI."""
    from suite2p.detection.stats import median_pix

    ring = np.array([(y, x) for y in range(3, 6) for x in range(7, 10) if (y, x) != (4, 8)])
    ypix, xpix = ring[:, 0], ring[:, 1]
    pixels = np.column_stack([xpix, ypix, np.zeros(len(ring)), np.ones(len(ring))])
    assert [np.median(ypix), np.median(xpix)] == [4.0, 8.0]  # the hole
    centre = roi_centre(pixels)[::-1].tolist()
    assert centre == [int(v) for v in median_pix(ypix, xpix)] and centre != [4.0, 8.0]
    assert np.isnan(roi_centre(np.zeros((0, 4)))).all()
