"""Shared helpers for workflow tests: a private copy of the workflow, and snakemake runs in it.

Workflow tests never run in the repository itself: ``workflow_dir`` copies the workflow (Snakefile,
configs, workflow/, envs/, profiles/, tests/config.test.yaml) into a fresh temporary folder, so
``results/``, ``resources/`` and ``.snakemake/`` of one test cannot leak into another or into the
checkout. ``run_snakemake`` runs the venv's snakemake there as a subprocess, like a user would.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_CONFIG = "tests/config.test.yaml"

# What a run of the workflow needs from the repository (relative to its root).
WORKFLOW_PATHS = (
    "Snakefile",
    "config.yaml",
    "config",
    "pyproject.toml",
    "workflow",
    "envs",
    "profiles",
    TEST_CONFIG,
)
IGNORED_WHEN_COPYING = shutil.ignore_patterns("__pycache__", "*.pyc", ".snakemake", "results")

# Metrics keys that legitimately differ between two runs of the same job (wall-clock time,
# host, dates, package versions); everything else must be identical.
VOLATILE_METRIC_WORDS = ("time", "host", "date", "duration", "versions", "timestamp", "elapsed")


def copy_workflow(destination: Path, source_root: Path = ROOT) -> Path:
    """Copy the workflow files of ``source_root`` (this checkout) into ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    for relative in WORKFLOW_PATHS:
        source = source_root / relative
        if not source.exists():
            continue
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=IGNORED_WHEN_COPYING, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    return destination


def snakemake_command(*args: str) -> list[str]:
    """The venv's snakemake (the interpreter running the tests) with ``args``."""
    return [sys.executable, "-m", "snakemake", *map(str, args)]


def run_snakemake(
    workdir: Path,
    *args: str,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess:
    """Run ``snakemake args`` in ``workdir``; stdout/stderr are captured as text.

    With ``check=True`` a non-zero exit fails the test and shows the end of the log.
    """
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        snakemake_command(*args),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"snakemake {' '.join(map(str, args))} exited with {result.returncode}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-8000:]}"
        )
    return result


def read_json(path: Path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def comparable_metrics(metrics):
    """``metrics`` without the run-dependent entries (times, hosts, dates, versions).

    Floats are kept exactly: the comparison is for bit-identical reruns.
    """
    if isinstance(metrics, dict):
        return {
            key: comparable_metrics(value)
            for key, value in metrics.items()
            if not any(word in key.lower() for word in VOLATILE_METRIC_WORDS)
        }
    if isinstance(metrics, list):
        return [comparable_metrics(value) for value in metrics]
    if isinstance(metrics, float) and math.isnan(metrics):
        return "nan"
    return metrics


def files_under(folder: Path) -> list[Path]:
    """Every file below ``folder`` (relative paths, sorted); empty when it does not exist."""
    if not folder.exists():
        return []
    return sorted(path.relative_to(folder) for path in folder.rglob("*") if path.is_file())


def leftover_temporaries(folder: Path) -> list[Path]:
    """Temporary files of interrupted atomic writes (runtime.atomic_path's ``.name.*.part``)."""
    return [path for path in files_under(folder) if path.name.endswith(".part")]


def error_lines(result: subprocess.CompletedProcess, marker: str = "Error") -> list[str]:
    """The lines of a run's output that contain ``marker``."""
    text = result.stdout + "\n" + result.stderr
    return [line for line in text.splitlines() if marker in line]


@pytest.fixture(scope="session")
def workflow_snapshot(tmp_path_factory) -> Path:
    """The workflow files as they were when the session started (copied once).

    Tests that compare runs copy from here, so every run of a session sees the same files even
    if the checkout is edited while the tests run.
    """
    return copy_workflow(tmp_path_factory.mktemp("snapshot") / "workflow")


@pytest.fixture
def workflow_dir(tmp_path: Path, workflow_snapshot: Path) -> Path:
    """A fresh copy of the workflow (from the session's snapshot) to run snakemake in."""
    return copy_workflow(tmp_path / "workflow_copy", workflow_snapshot)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real data sets beside the repository (skips when absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA
