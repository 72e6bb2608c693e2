"""Imaging sessions as listed in the config: checks and path resolution.

Each session is one recording and one ``session`` wildcard. ``source`` says what the user has:

- ``synthetic``: the workflow simulates a volume (``imaging.synthetic`` settings, ``seed``);
- ``tiff`` / ``h5``: a raw movie, planes interleaved or 4-D (``path``, ``n_planes``, ``fs_hz``);
- ``suite2p``: an existing suite2p output folder (``path``, ``fs_hz``);
- ``traces``: already-extracted fluorescence, neurons × time (``path``, ``fs_hz``);
- ``nwb``: an NWB file (``path``; ``nwb_series`` where it holds several): raw imaging runs the
  movie steps, processed ophys data goes straight to the activity; its rate and plane count come
  from the file (``fs_hz``, ``n_planes`` are checked against it when given).

A relative ``path`` is resolved against ``data_dir`` when it is set, else ``resources_dir``.
"""

from __future__ import annotations

from pathlib import Path

MOVIE_SOURCES = ("synthetic", "tiff", "h5")
SOURCES = (*MOVIE_SOURCES, "suite2p", "traces", "nwb")


def session_table(imaging_config: dict) -> dict[str, dict]:
    """Sessions by name, in config order; a repeated name is a ValueError naming it."""
    table: dict[str, dict] = {}
    for session in imaging_config.get("sessions", []):
        name = session["name"]
        if name in table:
            raise ValueError(f"imaging.sessions: session name '{name}' is used twice")
        if session["source"] not in SOURCES:
            raise ValueError(f"imaging.sessions: '{name}' has unknown source '{session['source']}'")
        _check_nwb_metadata(name, session)
        table[name] = session
    return table


def _check_nwb_metadata(name: str, session: dict) -> None:
    """A session's start_time, subject and subject date_of_birth (activity.nwb's metadata) as
    activity.nwb will read them: dates quoted or not (YAML dates), a subject DANDI accepts."""
    from neurocircuit.imaging.activity_nwb import UNKNOWN, check_subject, parse_time

    where = f"imaging.sessions: '{name}'"
    if session.get("start_time") is not None:
        parse_time(session["start_time"], f"{where}: start_time")
    subject = session.get("subject")
    if subject and subject != UNKNOWN:
        check_subject(subject, where)
        if subject.get("date_of_birth") is not None:
            parse_time(subject["date_of_birth"], f"{where}: subject date_of_birth")


def resolve_session_path(path: str, data_dir: str | None, resources_dir: str) -> str:
    """Absolute paths stay; relative ones live under data_dir (or resources_dir when null)."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return str(candidate)
    return str(Path(data_dir if data_dir else resources_dir) / candidate)


def session_fs_hz(session: dict, imaging_config: dict) -> float | None:
    """Volume rate of a session in Hz (the synthetic spec's for synthetic sessions); None for an
    NWB session that does not state it (the file says)."""
    if session["source"] == "synthetic":
        return float(imaging_config["synthetic"]["volume_rate_hz"])
    if session.get("fs_hz") is None:
        return None
    return float(session["fs_hz"])


def session_n_planes(session: dict, imaging_config: dict) -> int:
    """Number of imaging planes of a movie session (an NWB session's: see
    ``nwb_input.nwb_session_plan``)."""
    if session["source"] == "synthetic":
        return int(imaging_config["synthetic"]["n_planes"])
    return int(session.get("n_planes", 1))
