"""The anti-pattern thresholds the user configured: config.toml `[graph]` read here, in the UI
layer, so the analyses stay pure functions of a trace and their arguments."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping

from renacer_tui.analysis.antipatterns import Thresholds
from renacer_tui.store.config import KNOWN_KEYS, Config, ConfigError, load_config


def configured_thresholds(overrides: Mapping[str, Any] | None = None) -> Thresholds:
    """Defaults < config.toml `[graph]` < `overrides`; an unreadable config file means defaults
    (a bad config must not stop an analysis; `renacer-tui db` reports it)."""
    try:
        graph = load_config().graph
    except ConfigError:
        graph = None
    return Thresholds.from_config(graph, overrides)


def antipattern_detection_enabled() -> bool:
    """`[graph] enable_antipattern_detection` (true unless the file turns it off; unreadable: true)."""
    try:
        return load_config().graph.enable_antipattern_detection
    except ConfigError:
        return True


def graph_key_warnings(config: Config) -> list[str]:
    """`FILE:LINE: unknown key graph.x` for `[graph]` keys that are neither spec keys nor thresholds."""
    known = KNOWN_KEYS["graph"] | {f.name for f in fields(Thresholds)}
    where = str(config.source) if config.source else "config"
    return [
        f"{where}:{config.origins.get(f'graph.{key}', '?')}: unknown key graph.{key} (ignored)"
        for key in config.graph.extra
        if key not in known
    ]
