"""The activity as an NWB file: ``results/imaging/{session}/activity.nwb``, beside activity.h5.

Written with pynwb, readable by any NWB tool (pynwb, MatNWB, NWB Widgets, DANDI):

- ``general/devices/Microscope``, one ``ImagingPlane`` (the whole volume; a mask's z is the plane
  index) with its ``OpticalChannel``;
- ``processing/ophys/ImageSegmentation/PlaneSegmentation``: one row per neuron, in the order of
  activity.h5's rows: ``voxel_mask`` (row, column, plane, weight; ``pixel_mask`` (row,
  column, weight) for one plane: suite2p's and neuroconv's order, see ``nwb_input``) of every ROI
  merged into the neuron (an all-zero 1×1 image_mask when the input had none), ``position``
  (plane, y px, x px: activity.h5's ``positions``), ``cell_probability``, ``merged_rois`` and,
  on synthetic sessions, ``truth_index``;
- ``processing/ophys``: ``Fluorescence`` (raw F), ``Neuropil`` (when the input had one) and
  ``DfOverF`` (ΔF/F, masked frames interpolated), each one ``RoiResponseSeries`` (frames, neurons)
  at the volume rate; masked frames listed in ``invalid_times``;
- session metadata: the session's ``description``, ``start_time``, ``subject``, ``location`` and
  ``indicator`` from the config, else the source NWB file's, else defaults (a synthetic
  session's subject is NCBI's "synthetic construct", born when the recording was simulated).
  DANDI-ready: a session whose subject (config or source file) lacks what DANDI requires
  (:func:`check_subject`) stops with one line naming the keys to set, before anything is
  written: no placeholder subject is ever made up for a real animal. ``subject: unknown`` says
  so explicitly (:func:`unknown_subject`): written with a warning that the file is not
  DANDI-ready;
  ``session_id`` is the session name, the ``identifier`` a UUID derived from the session, its
  config hash and its ΔF/F, and ``notes`` the provenance of activity.h5 (JSON).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import uuid
from pathlib import Path

import numpy as np

from neurocircuit.runtime import atomic_path

SYNTHETIC_CONSTRUCT = "http://purl.obolibrary.org/obo/NCBITaxon_32630"
"""NCBI Taxonomy's "synthetic construct": the species of a simulated recording."""
SERIES = "RoiResponseSeries"
DEFAULT_OPTICS = {
    "device": {"name": "Microscope", "description": "microscope of the source recording"},
    "imaging_plane": {
        "description": "",
        "indicator": "unknown",
        "location": "unknown",
        "excitation_lambda": float("nan"),
    },
    "optical_channel": {"description": "imaging channel", "emission_lambda": float("nan")},
}
SYNTHETIC_OPTICS = {
    "device": {
        "name": "Microscope",
        "description": "simulated two-photon microscope (neurocircuit imaging.synthetic)",
    },
    "imaging_plane": {
        "description": "",
        "indicator": "GCaMP-like indicator (simulated)",
        "location": "simulated volume",
        "excitation_lambda": 920.0,
    },
    "optical_channel": {"description": "green channel (simulated)", "emission_lambda": 510.0},
}


DANDI_SUBJECT = ("subject_id", "species", "sex")
"""Subject keys DANDI requires, besides one of age and date_of_birth."""
DANDI_KEYS = "subject_id, species, sex, and age (ISO 8601 duration, P90D) or date_of_birth"
UNKNOWN = "unknown"
"""A session's ``subject: unknown``: nobody knows the animal (:func:`unknown_subject`)."""
_LOG = logging.getLogger(__name__)


def unknown_subject(name: str) -> dict:
    """The subject of a session whose animal nobody knows (``subject: unknown``): its id is the
    session name; sex ``U`` is NWB's "unknown" and age ``P0D/`` the open range "0 days or
    older", true of any animal (without them nwbinspector's subject checks are CRITICAL);
    species stays unset (nwbinspector: BEST_PRACTICE_VIOLATION, CRITICAL for DANDI)."""
    return {
        "subject_id": name,
        "sex": "U",
        "age": "P0D/",
        "description": "subject unknown (set imaging.sessions[].subject for DANDI)",
    }


def parse_time(value, what: str) -> datetime.datetime:
    """An ISO 8601 date or date-time (naive ones are UTC), as an aware datetime; a
    ``datetime.date`` or ``datetime.datetime`` (what YAML makes of an unquoted one) as written."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime.combine(value, datetime.time())
    else:
        try:
            moment = datetime.datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError(
                f"{what}: '{value}' is not an ISO 8601 date-time (e.g. 2024-05-01T09:30:00+02:00)"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


def check_subject(subject: dict | None, where: str) -> None:
    """Raise a one-line ValueError unless ``subject`` has what DANDI requires (subject_id,
    species, sex, and age or date_of_birth); ``where`` names the session and where the subject
    came from."""
    keys = DANDI_KEYS
    if not subject:
        raise ValueError(
            f"{where}: no subject for activity.nwb (DANDI requires one); set the session's "
            f"subject: {{{keys}}}"
        )
    missing = [key for key in DANDI_SUBJECT if not subject.get(key)]
    if not (subject.get("age") or subject.get("date_of_birth")):
        missing.append("age or date_of_birth")
    if missing:
        raise ValueError(
            f"{where}: subject lacks {', '.join(missing)} (DANDI requires {keys}); set them "
            "in the session's subject"
        )


def nwb_metadata(
    session: dict,
    source: dict | None,
    fallback_start: datetime.datetime,
    n_planes: int,
    logger: logging.Logger | None = None,
) -> dict:
    """Session-level metadata of activity.nwb: config first, then the source NWB file's
    (``source``, from ``nwb_input.source_metadata``), then defaults (module docstring).
    ``subject: unknown`` is warned about on ``logger`` (default: this module's)."""
    source = source or {}
    name = session["name"]
    synthetic = session["source"] == "synthetic"
    start_value = session.get("start_time") or source.get("session_start_time") or fallback_start
    start = parse_time(start_value, f"session '{name}': start_time")
    if start > datetime.datetime.now(datetime.UTC):
        raise ValueError(f"session '{name}': start_time {start.isoformat()} is in the future")
    subject = session.get("subject") or source.get("subject")
    if subject == UNKNOWN:
        subject = unknown_subject(name)
        (logger or _LOG).warning(
            "session '%s': subject unknown (config): activity.nwb is not DANDI-ready; set the "
            "session's subject: {%s}",
            name,
            DANDI_KEYS,
        )
    elif not subject and synthetic:
        subject = {
            "subject_id": name,
            "species": SYNTHETIC_CONSTRUCT,
            "sex": "U",
            "date_of_birth": start.isoformat(),
            "description": f"no animal: a simulated volumetric recording (seed "
            f"{session.get('seed', 0)})",
        }
    origin = "config" if session.get("subject") else "source file" if subject else None
    if session.get("subject") != UNKNOWN:
        check_subject(subject, f"session '{name}'" + (f" ({origin})" if origin else ""))
    optics = SYNTHETIC_OPTICS if synthetic else DEFAULT_OPTICS
    meta = {key: dict(source.get(key) or optics[key]) for key in optics}
    for key in ("location", "indicator"):
        if session.get(key):
            meta["imaging_plane"][key] = session[key]
    meta["imaging_plane"]["description"] = (
        f"{n_planes} imaging plane(s) of session '{name}' ({session['source']}); a mask's z is "
        f"the plane index. {meta['imaging_plane']['description']}".strip()
    )
    description = session.get("description") or source.get("session_description")
    return {
        **meta,
        "session_description": description
        or f"Calcium imaging session '{name}' ({session['source']}) as ΔF/F by neurocircuit",
        "session_start_time": start,
        "subject": subject,
    }


def _subject(fields: dict | None, name: str):
    from pynwb.file import Subject

    if not fields:
        return None
    fields = dict(fields)
    if "date_of_birth" in fields:
        fields["date_of_birth"] = parse_time(fields["date_of_birth"], f"session '{name}': subject")
    if "weight" in fields:
        fields["weight"] = str(fields["weight"])
    return Subject(**fields)


def _identifier(name: str, attrs: dict, dff: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(dff, dtype=np.float32).tobytes()).hexdigest()
    seed = f"neurocircuit:{name}:{attrs.get('config_hash', '')}:{digest}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))


def _masked_intervals(frame_valid: np.ndarray, time_s: np.ndarray, fs_hz: float):
    """(start, stop) in s of each run of masked frames."""
    bad = ~np.asarray(frame_valid, dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], bad.astype(int), [0]])))
    for first, after in zip(edges[::2], edges[1::2], strict=True):
        yield float(time_s[first]), float(time_s[after - 1] + 1.0 / fs_hz)


def write_activity_nwb(
    path: str | Path,
    table,
    time_s: np.ndarray,
    fs_hz: float,
    n_planes: int,
    session: dict,
    attrs: dict,
    metadata: dict,
    truth_index: np.ndarray | None = None,
) -> None:
    """Write activity.nwb atomically (module docstring). ``table``: the pipeline's
    ActivityTable (dff, positions, cell_probability, frame_valid, merged_rois, F, Fneu, masks);
    ``metadata``: :func:`nwb_metadata`'s; ``attrs``: activity.h5's provenance attributes."""
    from pynwb import NWBFile
    from pynwb.ophys import OpticalChannel

    from neurocircuit import __version__

    dff = np.asarray(table.dff, dtype=np.float32)
    nwbfile = NWBFile(
        session_description=metadata["session_description"],
        identifier=_identifier(session["name"], attrs, dff),
        session_start_time=metadata["session_start_time"],
        session_id=session["name"],
        subject=_subject(metadata["subject"], session["name"]),
        keywords=["calcium imaging", "suite2p", "ΔF/F"],
        source_script=f"neurocircuit {__version__} (imaging stage)",
        source_script_file_name="workflow/scripts/imaging_activity.py",
        notes=json.dumps({"activity_h5_attrs": attrs}, default=str),
    )
    device = nwbfile.create_device(**metadata["device"])
    channel = OpticalChannel(name="OpticalChannel", **metadata["optical_channel"])
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane",
        optical_channel=channel,
        imaging_rate=float(fs_hz),
        device=device,
        **metadata["imaging_plane"],
    )
    ophys = nwbfile.create_processing_module("ophys", "ΔF/F of the neurons, one per ROI row")
    rois = _add_rois(ophys, plane, table, n_planes, truth_index)
    _add_traces(ophys, rois, table, dff, time_s, fs_hz)
    for start, stop in _masked_intervals(table.frame_valid, time_s, fs_hz):
        nwbfile.add_invalid_time_interval(start_time=start, stop_time=stop)
    write_nwbfile(nwbfile, path)


def _add_rois(ophys, plane, table, n_planes: int, truth_index: np.ndarray | None):
    """The PlaneSegmentation of activity.nwb: one ROI row per neuron, in activity.h5's order."""
    from pynwb.ophys import ImageSegmentation

    segmentation = ImageSegmentation()
    ophys.add(segmentation)
    rois = segmentation.create_plane_segmentation(
        name="PlaneSegmentation",
        description="Neurons kept (one row each, in activity.h5's order); the mask holds every "
        "ROI merged into the neuron across planes",
        imaging_plane=plane,
    )
    rois.add_column("position", "(plane, y px, x px) of the neuron: activity.h5 positions")
    rois.add_column("cell_probability", "suite2p classifier probability (NaN: unknown)")
    rois.add_column("merged_rois", "ROIs (planes) merged into this neuron")
    if truth_index is not None:
        rois.add_column("truth_index", "simulated neuron matched to this row; -1 when none")
    volumetric = n_planes > 1
    for k in range(len(table.dff)):
        if table.masks is None:  # no spatial information: an all-zero 1×1 image mask
            mask = {"image_mask": np.zeros((1, 1))}
        else:
            voxels = np.asarray(table.masks[k], dtype=np.float64).reshape(-1, 4)  # x, y, z, w
            rows_first = voxels[:, [1, 0, 2, 3]]  # NWB masks: (row, column, plane, weight)
            mask = (
                {"voxel_mask": rows_first}
                if volumetric
                else {"pixel_mask": rows_first[:, [0, 1, 3]]}
            )
        row = {
            "position": np.asarray(table.positions[k], dtype=np.float64),
            "cell_probability": float(table.cell_probability[k]),
            "merged_rois": int(table.merged_rois[k]),
        }
        if truth_index is not None:
            row["truth_index"] = int(truth_index[k])
        rois.add_roi(**mask, **row)
    return rois


def _add_traces(ophys, rois, table, dff: np.ndarray, time_s: np.ndarray, fs_hz: float) -> None:
    """F, neuropil (when extracted) and ΔF/F as ROI response series over every neuron."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb.ophys import DfOverF, Fluorescence

    n = len(dff)

    def add_series(container, values: np.ndarray, unit: str, description: str) -> None:
        ophys.add(container)  # first, so that the series' ROI region shares the file
        container.create_roi_response_series(
            name=SERIES,
            data=H5DataIO(np.asarray(values, np.float32).T, compression="gzip", shuffle=True),
            rois=rois.create_roi_table_region(description="every neuron", region=list(range(n))),
            unit=unit,
            rate=float(fs_hz),
            starting_time=float(time_s[0]),
            description=description,
        )

    if table.F is not None:
        text = "Raw fluorescence F of each neuron's ROI (as extracted)"
        add_series(Fluorescence(), table.F, "a.u.", text)
    if table.Fneu is not None:
        text = "Neuropil fluorescence around each neuron's ROI"
        add_series(Fluorescence(name="Neuropil"), table.Fneu, "a.u.", text)
    text = "ΔF/F = (F − r·Fneu − F0) / F0; masked frames interpolated"
    add_series(DfOverF(), dff, "n.a.", text)


def write_nwbfile(nwbfile, path: str | Path) -> None:
    """Write an NWBFile atomically (under a temporary name, renamed when complete)."""
    import warnings

    from pynwb import NWBHDF5IO

    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")
        with NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwbfile)


def read_activity_nwb(path: str | Path) -> dict:
    """ΔF/F (neurons × frames, float32), time_s, positions, cell_probability, frame_valid and,
    when present, merged_rois and truth_index of an activity.nwb file, plus ``attrs``."""
    from neurocircuit.imaging.nwb_input import open_nwb

    path = Path(path)
    with open_nwb(path) as nwbfile:
        ophys = nwbfile.processing.get("ophys")
        if ophys is None or "DfOverF" not in ophys.data_interfaces:
            raise ValueError(f"{path}: not an activity.nwb file (no processing/ophys/DfOverF)")
        series = ophys["DfOverF"][SERIES]
        dff = np.asarray(series.data[()], dtype=np.float32).T
        n_frames = dff.shape[1]
        time_s = float(series.starting_time or 0.0) + np.arange(n_frames) / float(series.rate)
        table = series.rois.table
        data = {
            "dff": dff,
            "time_s": time_s,
            "positions": np.asarray(table["position"].data[:], dtype=np.float32),
            "cell_probability": np.asarray(table["cell_probability"].data[:], np.float32),
        }
        for name in ("merged_rois", "truth_index"):
            if name in table.colnames:
                data[name] = np.asarray(table[name].data[:], dtype=np.int32)
        valid = np.ones(n_frames, dtype=bool)
        if nwbfile.invalid_times is not None:
            for start, stop in zip(
                nwbfile.invalid_times["start_time"].data[:],
                nwbfile.invalid_times["stop_time"].data[:],
                strict=True,
            ):
                valid[(time_s >= start) & (time_s < stop)] = False
        data["frame_valid"] = valid
        notes = json.loads(nwbfile.notes) if nwbfile.notes else {}
        data["attrs"] = {
            **notes.get("activity_h5_attrs", {}),
            "session": nwbfile.session_id,
            "fs_hz": float(series.rate),
        }
    return data
