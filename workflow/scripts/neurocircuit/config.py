"""Load and validate workflow configs against the JSON Schema, filling defaults.

A bad config must stop the run before any job starts, with one line that names the key. The
schema lives in ``workflow/schemas/config.schema.yaml``; a property may be ``{"$ref": "x.yaml"}``
pointing at a sibling schema file (one file per workflow stage), which is inlined on load.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """A config that does not match the schema; the message is one line naming the key."""


def load_schema(schema_path: str | Path) -> dict:
    """Read the schema and inline every ``$ref`` that names a sibling YAML file."""
    schema_path = Path(schema_path)
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    return _expand_partials(_inline_refs(schema, schema_path.parent))


def merge_settings(base: dict, *overrides: dict | None) -> dict:
    """A deep copy of ``base`` with each of ``overrides`` merged in, in order: mappings merge
    key by key (recursively), anything else (numbers, lists, None) replaces. The one layering
    rule of run settings (defaults < data set < model) in every stage."""
    merged = copy.deepcopy(dict(base))
    for override in overrides:
        for key, value in (override or {}).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merge_settings(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
    return merged


PARTIAL_OF = "x-partial-of"
"""Schema keyword of ours: ``{x-partial-of: [keys]}`` stands for an object holding any of the
parent object's ``keys``, validated like them but with no defaults filled (an override)."""


def _without_defaults(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_defaults(v) for k, v in node.items() if k != "default"}
    if isinstance(node, list):
        return [_without_defaults(v) for v in node]
    return node


def _expand_partials(node: Any, parent_properties: dict | None = None) -> Any:
    """Replace every ``{x-partial-of: [keys]}`` with the override schema it stands for."""
    if isinstance(node, list):
        return [_expand_partials(v, parent_properties) for v in node]
    if not isinstance(node, dict):
        return node
    if PARTIAL_OF in node:
        keys = node[PARTIAL_OF]
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": {k: _without_defaults(parent_properties[k]) for k in keys},
        }
    properties = node.get("properties") if isinstance(node.get("properties"), dict) else None
    inner = properties if properties is not None else parent_properties
    return {key: _expand_partials(value, inner) for key, value in node.items()}


def _inline_refs(node: Any, folder: Path) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.endswith((".yaml", ".yml")):
            return load_schema(folder / ref)
        return {key: _inline_refs(value, folder) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_refs(value, folder) for value in node]
    return node


def _fill_defaults(instance: Any, schema: dict) -> None:
    """Set every missing property that has a ``default`` (recursively, objects only)."""
    if not isinstance(instance, dict) or schema.get("type") != "object":
        return
    properties = schema.get("properties", {})
    for key, sub in properties.items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in properties:
                _fill_defaults(value, extra)


def _describe(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(part) for part in error.absolute_path) or "<top level>"
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extras = [k for k in error.instance if k not in allowed]
        parts = []
        for extra in extras:
            name = f"{key}.{extra}" if error.absolute_path else extra
            guess = difflib.get_close_matches(extra, allowed, n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            parts.append(f"unknown config key '{name}'{hint}")
        return "; ".join(parts)
    if error.validator == "required":
        return f"config key '{key}': {error.message}"
    return f"config key '{key}': {error.message}"


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Return a validated copy of ``config`` with schema defaults filled in.

    Raises ConfigError with one line naming the offending key (a misspelt key gets a
    "did you mean" hint).
    """
    schema = load_schema(schema_path)
    filled = copy.deepcopy(config) if config is not None else {}
    _fill_defaults(filled, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(e.absolute_path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(_describe(best))
    return filled
