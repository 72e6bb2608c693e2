"""Imaging sessions as listed in the config: checks and path resolution.

Each session is one recording and one ``session`` wildcard. ``source`` says what the user has:

- ``synthetic``: the workflow simulates a volume (``imaging.synthetic`` settings, ``seed``);
- ``tiff`` / ``h5``: a raw movie, planes interleaved or 4-D (``path``, ``n_planes``, ``fs_hz``);
- ``suite2p``: an existing suite2p output folder (``path``, ``fs_hz``);
- ``traces``: already-extracted fluorescence, neurons × time (``path``, ``fs_hz``).

A relative ``path`` is resolved against ``data_dir`` when it is set, else ``resources_dir``.
"""

from __future__ import annotations

from pathlib import Path

MOVIE_SOURCES = ("synthetic", "tiff", "h5")
SOURCES = (*MOVIE_SOURCES, "suite2p", "traces")


def session_table(imaging_config: dict) -> dict[str, dict]:
    """Sessions by name, in config order; a repeated name is a ValueError naming it."""
    table: dict[str, dict] = {}
    for session in imaging_config.get("sessions", []):
        name = session["name"]
        if name in table:
            raise ValueError(f"imaging.sessions: session name '{name}' is used twice")
        if session["source"] not in SOURCES:
            raise ValueError(f"imaging.sessions: '{name}' has unknown source '{session['source']}'")
        table[name] = session
    return table


def resolve_session_path(path: str, data_dir: str | None, resources_dir: str) -> str:
    """Absolute paths stay; relative ones live under data_dir (or resources_dir when null)."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return str(candidate)
    return str(Path(data_dir if data_dir else resources_dir) / candidate)


def session_fs_hz(session: dict, imaging_config: dict) -> float:
    """Volume rate of a session in Hz (the synthetic spec's for synthetic sessions)."""
    if session["source"] == "synthetic":
        return float(imaging_config["synthetic"]["volume_rate_hz"])
    return float(session["fs_hz"])


def session_n_planes(session: dict, imaging_config: dict) -> int:
    """Number of imaging planes of a movie session."""
    if session["source"] == "synthetic":
        return int(imaging_config["synthetic"]["n_planes"])
    return int(session.get("n_planes", 1))
