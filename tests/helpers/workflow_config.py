"""The shipped configs as the workflow sees them: merged like Snakemake's ``--configfile``
(config.yaml first; mappings merge, everything else replaces), validated with the defaults."""

from __future__ import annotations

from pathlib import Path

import yaml
from neurocircuit.config import validate_config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _update(base: dict, new: dict) -> dict:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _update(base[key], value)
        else:
            base[key] = value
    return base


def shipped_config(*overlays: str | Path, **overrides) -> dict:
    """config.yaml, then each overlay file (relative to the repository), then ``overrides``
    (merged the same way), validated."""
    config: dict = {}
    for name in ("config.yaml", *overlays):
        with open(ROOT / name) as fh:
            _update(config, yaml.safe_load(fh) or {})
    return validate_config(_update(config, overrides), SCHEMA)
