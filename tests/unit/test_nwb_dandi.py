"""DANDI-ready activity.nwb (docs/imaging.md, "DANDI"): dates in the config are taken as YAML
reads them (unquoted dates and date-times), a session without a subject DANDI accepts stops
with one line naming the keys to set, before anything is written, and ``subject: unknown``
writes a subject that says so, with a warning (config.yaml's pynapple session)."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers.nwb_files import serious_inspector_messages
from neurocircuit.config import ConfigError, validate_config
from neurocircuit.imaging.nwb_input import open_nwb
from neurocircuit.imaging.pipeline import build_session_activity
from neurocircuit.imaging.sessions import session_table

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
PYNAPPLE = ROOT.parent / "shared" / "data" / "suite2p_pynapple"
CONFIG = """
imaging:
  sessions:
    - name: day
      source: traces
      path: t.npy
      fs_hz: 2.0
      start_time: 2024-01-02
      subject: {subject_id: fish3, species: Danio rerio, sex: U, date_of_birth: 2023-12-26}
    - name: moment
      source: traces
      path: t.npy
      fs_hz: 2.0
      start_time: 2024-01-02T09:30:00+02:00
      subject: {subject_id: fish4, species: Danio rerio, sex: U, age: P7D}
"""
KEYS = "subject_id, species, sex, and age (ISO 8601 duration, P90D) or date_of_birth"


@pytest.fixture(scope="module")
def settings():
    config = validate_config({}, SCHEMA)
    return {k: v for k, v in config["imaging"].items() if k != "sessions"}


@pytest.fixture
def traces(tmp_path) -> Path:
    np.save(tmp_path / "t.npy", 200 + np.random.default_rng(1).normal(0, 2, (3, 200)))
    return tmp_path / "t.npy"


def sessions(text: str) -> dict:
    return session_table(validate_config(yaml.safe_load(text), SCHEMA)["imaging"])


def write(settings, folder: Path, session: dict, traces: Path) -> Path:
    build_session_activity(
        session,
        settings,
        folder / "activity.h5",
        folder / "metrics.json",
        nwb_path=folder / "activity.nwb",
        traces=traces,
    )
    return folder / "activity.nwb"


def test_unquoted_yaml_dates_are_taken_as_written(settings, tmp_path, traces):
    table = sessions(CONFIG)
    assert type(table["day"]["start_time"]) is datetime.date  # what YAML made of them
    assert isinstance(table["moment"]["start_time"], datetime.datetime)
    utc, plus2 = datetime.UTC, datetime.timezone(datetime.timedelta(hours=2))
    expected = {
        "day": (
            datetime.datetime(2024, 1, 2, tzinfo=utc),
            datetime.datetime(2023, 12, 26, tzinfo=utc),
        ),
        "moment": (datetime.datetime(2024, 1, 2, 9, 30, tzinfo=plus2), None),
    }
    for name, (start, born) in expected.items():
        path = write(settings, tmp_path / name, table[name], traces)
        with open_nwb(path) as nwbfile:
            assert nwbfile.session_start_time == start
            assert nwbfile.session_start_time.utcoffset() == start.utcoffset()
            assert nwbfile.subject.date_of_birth == born
        assert serious_inspector_messages(path) == []


def test_a_date_that_is_not_one_is_refused_with_its_key():
    for value, message in (
        ("2024", "config key 'imaging.sessions.0.start_time': 2024 is not an ISO 8601 date"),
        ("[2024-01-02]", r"'imaging.sessions.0.start_time': \[datetime.date\(2024, 1, 2\)\] is"),
        ("'May 1st'", "'day': start_time: 'May 1st' is not an ISO 8601 date-time"),
    ):
        text = CONFIG.replace("start_time: 2024-01-02\n", f"start_time: {value}\n")
        with pytest.raises((ConfigError, ValueError), match=message):
            sessions(text)


def test_a_session_without_a_subject_stops_naming_the_keys(settings, tmp_path, traces):
    session = {"name": "t", "source": "traces", "path": "t.npy", "fs_hz": 2.0}
    with pytest.raises(ValueError) as info:
        write(settings, tmp_path / "out", session, traces)
    assert str(info.value) == (
        f"session 't': no subject for activity.nwb (DANDI requires one); set the session's "
        f"subject: {{{KEYS}}}"
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    partial = CONFIG.replace("species: Danio rerio, sex: U, date_of_birth: 2023-12-26", "sex: U")
    with pytest.raises(ValueError) as info:
        sessions(partial)
    assert str(info.value) == (
        f"imaging.sessions: 'day': subject lacks species, age or date_of_birth (DANDI requires "
        f"{KEYS}); set them in the session's subject"
    )


def unknown_subject_checks(path: Path) -> dict:
    """The subject activity.nwb holds and nwbinspector's messages on it: (importance, check) of
    every message by default and with DANDI's configuration (what ``dandi validate`` runs)."""
    from nwbinspector import inspect_nwbfile, load_config

    with open_nwb(path) as nwbfile:
        subject = nwbfile.subject
        keys = ("subject_id", "species", "sex", "age", "date_of_birth", "description", "genotype")
        fields = {key: getattr(subject, key) for key in keys + ("strain", "weight")}
    checks = {}
    for name, config in (("default", None), ("dandi", load_config("dandi"))):
        messages = inspect_nwbfile(nwbfile_path=path, config=config)
        checks[name] = {(m.importance.name, m.check_function_name) for m in messages}
    return {"subject": fields, **checks}


def test_subject_unknown_says_so_in_the_file_and_warns(settings, tmp_path, traces, caplog):
    full = "subject: {subject_id: fish4, species: Danio rerio, sex: U, age: P7D}"
    session = sessions(CONFIG.replace(full, "subject: unknown"))["moment"]
    with caplog.at_level(logging.WARNING):
        path = write(settings, tmp_path, session, traces)
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == [
        "session 'moment': subject unknown (config): activity.nwb is not DANDI-ready; set the "
        f"session's subject: {{{KEYS}}}"
    ]
    found = unknown_subject_checks(path)
    assert found["subject"] == {
        "subject_id": "moment",  # the session name
        "species": None,  # not known, not invented
        "sex": "U",  # NWB's "unknown"
        "age": "P0D/",  # "0 days or older": true of any animal
        "date_of_birth": None,
        "description": "subject unknown (set imaging.sessions[].subject for DANDI)",
        "genotype": None,
        "strain": None,
        "weight": None,
    }
    suggestions = {
        ("BEST_PRACTICE_SUGGESTION", check)
        for check in ("check_experimenter_exists", "check_experiment_description")
        + ("check_institution", "check_col_not_nan")  # traces: no positions, probabilities
    }
    species = "check_subject_species_exists"
    assert found["default"] == suggestions | {("BEST_PRACTICE_VIOLATION", species)}
    assert found["dandi"] == suggestions | {("CRITICAL", species)}  # dandi validate refuses it
    assert serious_inspector_messages(path) == [
        f"BEST_PRACTICE_VIOLATION {species}: Subject species is missing."
    ]


@pytest.mark.skipif(not PYNAPPLE.is_dir(), reason="no suite2p_pynapple in ../shared/data")
def test_config_yaml_pynapple_session_is_written_with_its_subject_unknown(settings, tmp_path):
    config = validate_config(yaml.safe_load((ROOT / "config.yaml").read_text()), SCHEMA)
    session = session_table(config["imaging"])["pynapple"]
    assert session["subject"] == "unknown"
    build_session_activity(
        session,
        settings,
        tmp_path / "activity.h5",
        tmp_path / "metrics.json",
        nwb_path=tmp_path / "activity.nwb",
        suite2p_folder=PYNAPPLE,
    )
    found = unknown_subject_checks(tmp_path / "activity.nwb")
    assert found["subject"]["subject_id"] == "pynapple" and found["subject"]["species"] is None
    suggestions = ("check_experimenter_exists", "check_experiment_description", "check_institution")
    expected = {("BEST_PRACTICE_SUGGESTION", check) for check in suggestions}
    species = "check_subject_species_exists"
    assert found["default"] == expected | {("BEST_PRACTICE_VIOLATION", species)}
    assert found["dandi"] == expected | {("CRITICAL", species)}
