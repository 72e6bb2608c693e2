"""Config validation: defaults are filled, and a bad key or type fails with one line naming it."""

from pathlib import Path

import pytest
import yaml
from neurocircuit.config import ConfigError, load_schema, validate_config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def merged(*files):
    """Snakemake's merge of config files: mappings merge recursively, everything else replaces."""

    def update(base, new):
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                update(base[key], value)
            else:
                base[key] = value
        return base

    out = {}
    for name in files:
        with open(ROOT / name) as fh:
            update(out, yaml.safe_load(fh) or {})
    return out


@pytest.mark.parametrize(
    "files",
    [
        ("config.yaml",),
        ("config.yaml", "config/demo.yaml"),
        ("config.yaml", "tests/config.test.yaml"),
    ],
)
def test_shipped_configs_validate(files):
    config = validate_config(merged(*files), SCHEMA)
    assert config["device"] in {"auto", "cpu", "cuda"}
    assert "imaging" in config and "classification" in config and "fit" in config


def test_defaults_are_filled():
    config = validate_config({}, SCHEMA)
    assert config["resources_dir"] == "resources"
    assert config["data_dir"] is None


def test_stage_schemas_are_inlined():
    schema = load_schema(SCHEMA)
    for stage in ("imaging", "classification", "fit", "ablation", "figures"):
        assert "$ref" not in schema["properties"][stage]
        assert schema["properties"][stage]["type"] == "object"


def test_misspelt_key_names_the_key_and_suggests():
    with pytest.raises(ConfigError) as info:
        validate_config({"devcie": "cpu"}, SCHEMA)
    message = str(info.value)
    assert "devcie" in message and "device" in message
    assert "\n" not in message


def test_nested_misspelt_key_names_its_path():
    with pytest.raises(ConfigError, match=r"imaging\.not_a_key"):
        validate_config({"imaging": {"not_a_key": 1}}, SCHEMA)


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError) as info:
        validate_config({"resources_dir": 3}, SCHEMA)
    assert "resources_dir" in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_enum_names_the_key():
    with pytest.raises(ConfigError, match="device"):
        validate_config({"device": "tpu"}, SCHEMA)
