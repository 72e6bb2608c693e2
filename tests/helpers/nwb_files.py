"""NWB files written with pynwb itself (not with the workflow's writer), the way converters and
suite2p lay them out, for the tests of the NWB readers: raw TwoPhotonSeries in the three layouts,
processed ophys data (Fluorescence + Neuropil + PlaneSegmentation, or DfOverF), and a file with
no ophys data at all."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.file import Subject
from pynwb.ophys import (
    DfOverF,
    Fluorescence,
    ImageSegmentation,
    OpticalChannel,
    TwoPhotonSeries,
)

START = datetime.datetime(2023, 3, 14, 9, 30, tzinfo=datetime.UTC)
SERIOUS = {"ERROR", "PYNWB_VALIDATION", "CRITICAL", "BEST_PRACTICE_VIOLATION"}
"""nwbinspector importances that the workflow's NWB files must not get."""


def serious_inspector_messages(path: Path) -> list[str]:
    """nwbinspector's messages on ``path`` of importance CRITICAL, BEST_PRACTICE_VIOLATION or
    worse (empty: the file is fit for DANDI)."""
    from nwbinspector import inspect_nwbfile

    return [
        f"{m.importance.name} {m.check_function_name}: {m.message}"
        for m in inspect_nwbfile(nwbfile_path=path)
        if m.importance.name in SERIOUS
    ]


def assert_same_activity(nwb_path: Path, h5_path: Path) -> dict:
    """activity.nwb read back with pynwb holds activity.h5's ΔF/F, times and positions; returns
    what was read from the NWB file."""
    from neurocircuit.imaging.activity import read_activity
    from neurocircuit.imaging.activity_nwb import read_activity_nwb

    back, h5 = read_activity_nwb(nwb_path), read_activity(h5_path)
    assert np.array_equal(back["dff"], h5["dff"])
    assert np.allclose(back["time_s"], h5["time_s"], rtol=0, atol=1e-9)
    assert np.array_equal(back["positions"], h5["positions"], equal_nan=True)
    assert np.array_equal(back["cell_probability"], h5["cell_probability"], equal_nan=True)
    assert np.array_equal(back["frame_valid"], h5["frame_valid"])
    return back


def new_nwbfile(subject: bool = True) -> NWBFile:
    """An NWBFile with session metadata and a mouse."""
    mouse = Subject(subject_id="m1", species="Mus musculus", sex="F", age="P90D")
    return NWBFile(
        session_description="test recording",
        identifier="test-recording",
        session_start_time=START,
        subject=mouse if subject else None,
    )


def add_imaging_plane(nwbfile: NWBFile, name: str = "ImagingPlane", rate: float = 10.0):
    device = nwbfile.devices.get("Microscope") or nwbfile.create_device(
        name="Microscope", description="two-photon microscope", manufacturer="Acme"
    )
    return nwbfile.create_imaging_plane(
        name=name,
        optical_channel=OpticalChannel(
            name="OpticalChannel", description="green", emission_lambda=520.0
        ),
        imaging_rate=rate,
        description="test plane",
        device=device,
        excitation_lambda=920.0,
        indicator="GCaMP6s",
        location="VISp",
    )


def write(nwbfile: NWBFile, path: Path) -> Path:
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def write_two_photon_nwb(
    path: Path,
    movie: np.ndarray,
    volume_rate_hz: float,
    layout: str = "zstack",
    name: str = "TwoPhotonSeries",
    imaging_rate: float | None = None,
) -> Path:
    """A raw (volumes, planes, Y, X) movie as NWB: ``zstack`` one 4-D series (t, x, y, z);
    ``interleaved`` one 3-D series (t·z, x, y) at the frame rate, its imaging plane's
    imaging_rate ``imaging_rate`` (default the volume rate); ``per_plane`` one 3-D series and
    imaging plane per plane (``{name}Plane{k}``)."""
    nwbfile = new_nwbfile()
    xy = movie.transpose(0, 1, 3, 2)  # (t, z, x, y)
    if layout == "zstack":
        plane = add_imaging_plane(nwbfile, rate=volume_rate_hz)
        data = np.ascontiguousarray(xy.transpose(0, 2, 3, 1))
        nwbfile.add_acquisition(
            TwoPhotonSeries(
                name=name, data=data, imaging_plane=plane, rate=volume_rate_hz, unit="n.a."
            )
        )
    elif layout == "interleaved":
        n_planes = movie.shape[1]
        plane = add_imaging_plane(nwbfile, rate=imaging_rate or volume_rate_hz)
        data = xy.reshape(-1, *xy.shape[2:])
        rate = volume_rate_hz * n_planes
        nwbfile.add_acquisition(
            TwoPhotonSeries(name=name, data=data, imaging_plane=plane, rate=rate, unit="n.a.")
        )
    elif layout == "per_plane":
        for k in range(movie.shape[1]):
            plane = add_imaging_plane(nwbfile, f"ImagingPlane{k}", volume_rate_hz)
            nwbfile.add_acquisition(
                TwoPhotonSeries(
                    name=f"{name}Plane{k}",
                    data=np.ascontiguousarray(xy[:, k]),
                    imaging_plane=plane,
                    rate=volume_rate_hz,
                    unit="n.a.",
                )
            )
    else:
        raise ValueError(layout)
    return write(nwbfile, path)


def write_processed_nwb(
    path: Path,
    traces: np.ndarray,
    masks: Sequence[np.ndarray],
    rate_hz: float,
    neuropil: np.ndarray | None = None,
    iscell: np.ndarray | None = None,
    kind: str = "fluorescence",
    split_planes: np.ndarray | None = None,
) -> Path:
    """Processed ophys data: traces (rois × frames) in ``Fluorescence`` (``kind``
    "fluorescence", with ``Neuropil`` when given) or ``DfOverF`` ("dff"); one PlaneSegmentation
    of voxel masks (``masks``: (x = column, y = row, z, weight), written row first as suite2p
    and neuroconv write them) with suite2p's two-column ``iscell`` when given.
    ``split_planes`` (rois,): one series per plane (``plane0``, ...) as suite2p writes."""
    nwbfile = new_nwbfile()
    plane = add_imaging_plane(nwbfile, rate=rate_hz)
    ophys = nwbfile.create_processing_module("ophys", "processed")
    segmentation = ImageSegmentation()
    ophys.add(segmentation)
    table = segmentation.create_plane_segmentation(
        name="PlaneSegmentation", description="ROIs", imaging_plane=plane
    )
    if iscell is not None:
        table.add_column("iscell", "label, probability")
    for k, mask in enumerate(masks):
        extra = {"iscell": iscell[k]} if iscell is not None else {}
        rows_first = np.asarray(mask, dtype=np.float64)[:, [1, 0, 2, 3]]  # NWB: row, column
        table.add_roi(voxel_mask=[tuple(v) for v in rows_first], **extra)
    groups = (
        [np.arange(len(traces))]
        if split_planes is None
        else [np.flatnonzero(split_planes == p) for p in np.unique(split_planes)]
    )
    names = (
        ["RoiResponseSeries"]
        if split_planes is None
        else [f"plane{p}" for p in np.unique(split_planes)]
    )

    def add(container, values, unit):
        ophys.add(container)
        for series_name, rows in zip(names, groups, strict=True):
            container.create_roi_response_series(
                name=series_name,
                data=np.ascontiguousarray(values[rows].T),
                rois=table.create_roi_table_region(description="rois", region=rows.tolist()),
                unit=unit,
                rate=rate_hz,
            )

    if kind == "dff":
        add(DfOverF(name="DfOverF"), traces, "n.a.")
    else:
        add(Fluorescence(name="Fluorescence"), traces, "a.u.")
        if neuropil is not None:
            add(Fluorescence(name="Neuropil"), neuropil, "a.u.")
    return write(nwbfile, path)


def write_nwb_without_ophys(path: Path) -> Path:
    """A valid NWB file with a behavioural time series and no imaging at all."""
    nwbfile = new_nwbfile()
    nwbfile.add_acquisition(
        TimeSeries(name="running_speed", data=np.zeros(100), unit="m/s", rate=30.0)
    )
    return write(nwbfile, path)
