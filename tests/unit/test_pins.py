"""envs/*.yaml (for --sdm conda users) pin exactly the versions of requirements.txt."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def requirement_pins():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt: '{line}' is not pinned with =="
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_requirements_are_all_exact_pins():
    pins = requirement_pins()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert "suite2p" in pins and "snakemake" in pins


@pytest.mark.parametrize("env_file", sorted((ROOT / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_conda_env_matches_requirements(env_file):
    pins = requirement_pins()
    env = yaml.safe_load(env_file.read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert pip_section, f"{env_file.name} pins nothing"
    for spec in pip_section:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", spec)
        assert match, f"{env_file.name}: '{spec}' is not an exact pin"
        name, version = match.group(1).lower().replace("_", "-"), match.group(2)
        assert pins.get(name) == version, (
            f"{env_file.name} pins {name}=={version}, requirements.txt has {pins.get(name)}"
        )


def test_rules_reference_existing_envs():
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n?\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().exists(), f"{smk.name}: conda env {env} missing"
