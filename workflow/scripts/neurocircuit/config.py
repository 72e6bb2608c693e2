"""Load and validate workflow configs against the JSON Schema, filling defaults.

A bad config must stop the run before any job starts, with one line that names the key. The
schema lives in ``workflow/schemas/config.schema.yaml``; a property may be ``{"$ref": "x.yaml"}``
pointing at a sibling schema file (one file per workflow stage), which is inlined on load.
"""

from __future__ import annotations

import copy
import difflib
import logging
from collections.abc import Iterable, Mapping
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
    rule of run settings (:func:`layer_settings`) in every stage."""
    merged = copy.deepcopy(dict(base))
    for override in overrides:
        for key, value in (override or {}).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merge_settings(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
    return merged


def layer_settings(section: Mapping, dataset: str, model: str | None = None) -> dict:
    """One run's settings from a stage's config ``section``, the same layering in every stage:
    ``defaults`` < ``dataset_settings[dataset]`` < ``model_settings[model]`` <
    ``model_settings[model]["dataset_settings"][dataset]``, deep-merged (:func:`merge_settings`;
    the model layers skipped when ``model`` is None)."""
    model_layer = dict((section.get("model_settings") or {}).get(model) or {})
    model_on_dataset = (model_layer.pop("dataset_settings", None) or {}).get(dataset)
    return merge_settings(
        section.get("defaults") or {},
        (section.get("dataset_settings") or {}).get(dataset),
        model_layer,
        model_on_dataset,
    )


def _deprecated(old: str, new: str) -> None:
    logging.getLogger(__name__).warning("config key %s is deprecated: write %s", old, new)


def _model_settings_of(definition: Mapping | None) -> dict:
    """An old ``model_definitions`` entry ({all: ..., <dataset>: ...}) as model settings."""
    definition = dict(definition or {})
    settings = dict(definition.pop("all", None) or {})
    if definition:
        settings["dataset_settings"] = definition
    return settings


def upgrade_section(stage: str, section: Mapping | None, run_keys: Iterable[str] = ()) -> dict:
    """A copy of a stage's config ``section`` with its deprecated keys read into their new
    places, one warning each: ``run_keys`` written at the section's top level (the fit
    section's layout until 2026-12) merged over ``defaults``; ``model_definitions.<model>``
    (classification's until 2026-12: ``all`` and per-data-set entries) merged over
    ``model_settings.<model>`` (its own keys, and ``dataset_settings``)."""
    section = dict(section or {})
    moved = {key: section.pop(key) for key in list(section) if key in set(run_keys)}
    if moved:
        _deprecated(f"{stage}.{{{', '.join(moved)}}}", f"{stage}.defaults.<key>")
        section["defaults"] = merge_settings(section.get("defaults") or {}, moved)
    if "model_definitions" in section:
        _deprecated(
            f"{stage}.model_definitions.<model>.all / .<dataset>",
            f"{stage}.model_settings.<model> / .dataset_settings.<dataset>",
        )
        definitions = section.pop("model_definitions") or {}
        converted = {model: _model_settings_of(d) for model, d in definitions.items()}
        section["model_settings"] = merge_settings(section.get("model_settings") or {}, converted)
    return section


def upgrade_config(config: Mapping, schema: dict) -> dict:
    """A copy of ``config`` with every stage section's deprecated keys read into their new
    places (:func:`upgrade_section`; a stage's run keys are its schema's ``defaults``)."""
    upgraded = dict(config)
    for stage, stage_schema in schema.get("properties", {}).items():
        defaults = stage_schema.get("properties", {}).get("defaults")
        if isinstance(upgraded.get(stage), dict) and defaults is not None:
            run_keys = defaults.get("properties", {})
            upgraded[stage] = upgrade_section(stage, upgraded[stage], run_keys)
    return upgraded


PARTIAL_OF = "x-partial-of"
"""Schema keyword of ours: ``{x-partial-of: [keys]}`` stands for an object holding any of the
parent object's ``keys``, ``{x-partial-of: name}`` for one holding any key of the parent's
object property ``name``; either validated like them but with no defaults filled (an
override). Its own ``properties`` (e.g. nested overrides) are added."""


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
        of = node[PARTIAL_OF]
        source = (
            parent_properties[of]["properties"]
            if isinstance(of, str)
            else {key: parent_properties[key] for key in of}
        )
        properties = {key: _without_defaults(value) for key, value in source.items()}
        properties |= _expand_partials(node.get("properties", {}), parent_properties)
        return {"type": "object", "additionalProperties": False, "properties": properties}
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
    if error.validator == "not" and error.schema.get("x-date"):  # a string or a YAML date
        return (
            f"config key '{key}': {error.instance!r} is not an ISO 8601 date or date-time "
            "(2024-05-01 or 2024-05-01T09:30:00+02:00, quoted or not)"
        )
    if error.validator == "required":
        return f"config key '{key}': {error.message}"
    return f"config key '{key}': {error.message}"


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Return a validated copy of ``config`` with schema defaults filled in (and deprecated
    keys read into their new places, :func:`upgrade_config`).

    Raises ConfigError with one line naming the offending key (a misspelt key gets a
    "did you mean" hint).
    """
    schema = load_schema(schema_path)
    filled = upgrade_config(copy.deepcopy(config) if config is not None else {}, schema)
    _fill_defaults(filled, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(e.absolute_path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(_describe(best))
    return filled
