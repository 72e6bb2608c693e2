"""What users get wrong, fed to the whole workflow: each run stops with one line naming the problem.

Two kinds of mistakes:
- config mistakes (misspelt key, wrong type, negative rate, unknown data set or model, an empty
  data_dir) stop the run while Snakemake parses the workflow, before any job: one
  ``Config error: ...`` line, no traceback, no results/ folder;
- bad data (a truncated TIFF, an activity file with NaN rows or no neurons, a suite2p folder with
  the wrong plane count) stop the run at the first, light job that reads it, before any heavy
  job (registration/detection, training), with one line naming the file, and nothing under
  results/ that a later run would trust.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import TEST_CONFIG, copy_workflow, run_snakemake

# ---------------------------------------------------------------- helpers


def write_config(folder: Path, overrides: dict) -> Path:
    path = folder / "bad_config.yaml"
    path.write_text(yaml.safe_dump(overrides, sort_keys=False))
    return path


def run_with(workdir: Path, overrides: dict, *targets: str) -> subprocess.CompletedProcess:
    """A real (not dry) run of ``targets`` with the test config and ``overrides`` on top."""
    config = write_config(workdir, overrides)
    return run_snakemake(
        workdir,
        "--cores",
        "2",
        "--configfile",
        TEST_CONFIG,
        str(config),
        *targets,
        timeout=300,
    )


def executed_rules(result: subprocess.CompletedProcess) -> list[str]:
    """Names of the rules whose jobs Snakemake started (its ``rule x:`` job headers)."""
    rules = []
    for line in (result.stdout + result.stderr).splitlines():
        stripped = line.strip()
        for prefix in ("rule ", "localrule "):
            if stripped.startswith(prefix) and stripped.endswith(":"):
                rules.append(stripped[len(prefix) : -1])
    return rules


def assert_one_config_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    lines = [line for line in output.splitlines() if "Config error" in line]
    assert len(lines) == 1, output[-3000:]
    for fragment in expected:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in output, output[-3000:]
    assert executed_rules(result) == []
    return lines[0]


@pytest.fixture(scope="module")
def parse_only_workflow(tmp_path_factory) -> Path:
    """One workflow copy shared by the config cases: none of them may write anything."""
    return copy_workflow(tmp_path_factory.mktemp("bad_config") / "workflow_copy")


# ---------------------------------------------------------------- config mistakes
CONFIG_CASES = [
    pytest.param(
        {"imaging": {"neuropil_coefficent": 0.7}},
        ["unknown config key 'imaging.neuropil_coefficent'", "did you mean 'neuropil_coefficient'"],
        id="misspelt-key",
    ),
    pytest.param(
        {"devcie": "cpu"},
        ["unknown config key 'devcie'", "did you mean 'device'"],
        id="misspelt-top-level-key",
    ),
    pytest.param(
        {"imaging": {"synthetic": {"n_planes": "three"}}},
        ["imaging.synthetic.n_planes", "not of type 'integer'"],
        id="wrong-type",
    ),
    pytest.param(
        {"classification": {"seeds": 0}},
        ["classification.seeds", "not of type 'array'"],
        id="wrong-type-list",
    ),
    pytest.param(
        {"imaging": {"synthetic": {"event_rate_hz": -0.5}}},
        ["imaging.synthetic.event_rate_hz", "-0.5"],
        id="negative-rate",
    ),
    pytest.param(
        {"classification": {"defaults": {"lr": -0.001}}},
        ["classification.defaults.lr", "-0.001"],
        id="negative-learning-rate",
    ),
    pytest.param(
        {"classification": {"datasets": ["mnsit"]}},
        ["classification.datasets", "'mnsit' is not one of"],
        id="unknown-dataset",
    ),
    pytest.param(
        {"device": "gpu"},
        ["device", "'gpu' is not one of"],
        id="unknown-device",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), CONFIG_CASES)
def test_config_mistake_stops_before_any_job(parse_only_workflow, overrides, expected):
    result = run_with(parse_only_workflow, overrides)
    assert_one_config_error(result, *expected)
    assert not (parse_only_workflow / "results").exists()
