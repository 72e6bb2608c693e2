"""The imaging stage's inputs and params: each session's files, how its movie is read, and what
its jobs read of the ``imaging`` section.

Movie sessions (synthetic, TIFF, HDF5, and NWB files holding raw imaging) run the movie steps
(split planes, suite2p per plane); suite2p folders, traces files and processed NWB files go
straight to the activity job. Which kind an NWB file is, and how many planes it has, is read
from the file by the input functions that need it (never while the workflow is parsed).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from neurocircuit.config import ConfigError
from neurocircuit.imaging.sessions import (
    MOVIE_SOURCES,
    resolve_session_path,
    session_fs_hz,
    session_n_planes,
    session_table,
)
from neurocircuit.workflow.common import canonical
from neurocircuit.workflow.targets import expand

EXAMPLE_NWB = "example_nwb/synthetic_seed{seed}.nwb"
"""The workflow's own example NWB recording (rule imaging_example_nwb), in resources_dir."""


def check_imaging_config(config: dict) -> None:
    """The session list's cross-checks (a repeated name), as a one-line ConfigError."""
    try:
        session_table(config["imaging"])
    except ValueError as error:
        raise ConfigError(str(error)) from None


def session_entry(config: dict, wildcards) -> dict:
    """The config entry of the session named by the wildcard."""
    return session_table(config["imaging"])[wildcards.session]


def session_params(config: dict, wildcards) -> dict:
    """The session's config entry, as a job's params (keys sorted)."""
    return canonical(session_entry(config, wildcards))


def synthetic_settings(config: dict) -> dict:
    """The synthetic recording's settings, as a job's params (keys sorted)."""
    return canonical(config["imaging"]["synthetic"])


def session_seed(config: dict, wildcards) -> int:
    """The seed of a synthetic session's simulation (0 when the entry names none)."""
    return int(session_entry(config, wildcards).get("seed", 0))


def session_settings(config: dict, wildcards) -> dict:
    """What a session's activity job reads of the imaging section: everything but the session
    list, and the synthetic recording's settings only for synthetic sessions."""
    session = session_entry(config, wildcards)
    skipped = {"sessions"} if session["source"] == "synthetic" else {"sessions", "synthetic"}
    imaging = config["imaging"]
    return canonical({key: value for key, value in imaging.items() if key not in skipped})


def suite2p_settings(config: dict) -> dict:
    """suite2p settings of the per-plane rule, with the shared neuropil coefficient."""
    imaging = config["imaging"]
    return canonical(
        {**imaging["suite2p"], "neuropil_coefficient": imaging["neuropil_coefficient"]}
    )


def resource_path(config: dict, name: str) -> str:
    """``name`` under resources_dir."""
    return str(Path(config["resources_dir"]) / name)


def example_nwb_pattern(config: dict) -> str:
    """Output of the example NWB recording's rule (resources_dir/example_nwb/...)."""
    return resource_path(config, EXAMPLE_NWB)


def user_path(config: dict, session: dict) -> str:
    """A session's file: relative paths under data_dir (resources_dir when null), except the
    workflow's own example NWB recording (rule imaging_example_nwb), always in resources_dir."""
    if re.fullmatch(r"example_nwb/synthetic_seed\d+\.nwb", session["path"]):
        return resource_path(config, session["path"])
    return resolve_session_path(session["path"], config["data_dir"], config["resources_dir"])


@functools.lru_cache(maxsize=64)
def _read_nwb_plan(path: str, series, n_planes, modified_ns: int) -> dict:
    """nwb_input.nwb_session_plan, read once per file version (``modified_ns``) and process."""
    from neurocircuit.imaging.nwb_input import nwb_session_plan

    return nwb_session_plan(path, list(series) if isinstance(series, tuple) else series, n_planes)


def nwb_plan(config: dict, session: dict) -> dict:
    """How an NWB session is read: {"kind": "raw" or "processed", "n_planes"}. The file is
    opened on the first call only. The example recording, before its rule has made it, has
    the planes of imaging.synthetic."""
    path = user_path(config, session)
    example = re.escape(example_nwb_pattern(config)).replace(r"\{seed\}", r"\d+")
    exists = Path(path).exists()
    if re.fullmatch(example, path) and not exists:
        planes = session.get("n_planes", config["imaging"]["synthetic"]["n_planes"])
        return {"kind": "raw", "n_planes": planes}
    series = session.get("nwb_series")
    series = tuple(series) if isinstance(series, list) else series
    modified = Path(path).stat().st_mtime_ns if exists else -1
    return dict(_read_nwb_plan(path, series, session.get("n_planes"), modified))


def has_movie(config: dict, session: dict) -> bool:
    """Whether a session runs the movie steps (split, suite2p per plane): synthetic, TIFF and
    HDF5 movies, and NWB files that hold raw imaging."""
    if session["source"] == "nwb":
        return nwb_plan(config, session)["kind"] == "raw"
    return session["source"] in MOVIE_SOURCES


def n_planes(config: dict, session: dict) -> int:
    """Planes of a movie session (an NWB file's own count)."""
    if session["source"] == "nwb":
        return nwb_plan(config, session)["n_planes"]
    return session_n_planes(session, config["imaging"])


def movie_path(config: dict, wildcards) -> str:
    """The raw movie of a movie session (simulated for synthetic sessions)."""
    session = session_entry(config, wildcards)
    if session["source"] == "synthetic":
        return f"results/imaging/{wildcards.session}/raw/movie.tif"
    if not has_movie(config, session):
        raise ValueError(f"session '{wildcards.session}' ({session['source']}) has no movie")
    return user_path(config, session)


def movie_reading(config: dict, wildcards) -> dict:
    """How to read the session's movie: format, planes, HDF5 key or NWB series, rate, masking
    settings. An NWB session's planes and rate are what the config states (None: the file's)."""
    session = session_entry(config, wildcards)
    masking = config["imaging"]["masking"]
    params = {
        "fmt": {"h5": "h5", "nwb": "nwb"}.get(session["source"], "tiff"),
        "n_planes": session_n_planes(session, config["imaging"]),
        "h5_key": session.get("h5_key", "data"),
        "volume_rate_hz": session_fs_hz(session, config["imaging"]),
        "saturation_value": masking["saturation_value"],
        "max_saturated_fraction": masking["max_saturated_fraction"],
        "max_masked_fraction": masking["max_masked_fraction"],
    }
    if session["source"] == "nwb":
        params["n_planes"] = session.get("n_planes")
        params["nwb_series"] = session.get("nwb_series")
    return params


def plane_F(config: dict, wildcards) -> list[str]:
    """F.npy of every plane folder the per-plane suite2p jobs write for a movie session."""
    session = session_entry(config, wildcards)
    return expand(
        "results/imaging/{session}/suite2p/plane{plane}/F.npy",
        session=[wildcards.session],
        plane=range(n_planes(config, session)),
    )


def source_inputs(config: dict, wildcards) -> dict:
    """Inputs shared by the activity and QC rules, named after the source."""
    session = session_entry(config, wildcards)
    if has_movie(config, session):
        inputs = {
            "planes_dir": f"results/imaging/{wildcards.session}/planes",
            "plane_F": plane_F(config, wildcards),
        }
        if session["source"] == "synthetic":
            inputs["truth"] = f"results/imaging/{wildcards.session}/raw/ground_truth.h5"
        return inputs
    if session["source"] == "suite2p":
        return {"suite2p_folder": user_path(config, session)}
    if session["source"] == "nwb":
        return {"nwb": user_path(config, session)}
    return {"traces": user_path(config, session)}


def qc_inputs(config: dict, wildcards) -> dict:
    """Activity, metrics and the plane folders (or suite2p folder) of a session's QC figure."""
    inputs = {
        key: value
        for key, value in source_inputs(config, wildcards).items()
        if key in ("plane_F", "suite2p_folder")
    }
    inputs["activity"] = f"results/imaging/{wildcards.session}/activity.h5"
    inputs["metrics"] = f"results/imaging/{wildcards.session}/metrics.json"
    return inputs
