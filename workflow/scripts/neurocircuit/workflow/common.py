"""What every stage's functions share: binding to the config, and params with sorted keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from neurocircuit.config import ConfigError


def canonical(value: Any) -> Any:
    """``value`` with every mapping's keys sorted: Snakemake compares a job's params as
    written, so the same settings in another key order (an overlay config) must not rerun it."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def bind_config(function: Callable[..., Any], config: dict, **options: Any) -> Callable:
    """``function(config, wildcards, **options)`` as a function of the wildcards alone (a
    rule's input or params function). A :class:`~neurocircuit.config.ConfigError` it raises
    while the DAG is built stops Snakemake with one line, ``Config error: <message>``, and no
    traceback."""

    def bound(wildcards):
        try:
            return function(config, wildcards, **options)
        except ConfigError as error:
            raise SystemExit(f"Config error: {error}") from None

    bound.__name__ = bound.__qualname__ = getattr(function, "__name__", "bound")
    bound.__doc__ = function.__doc__
    return bound
