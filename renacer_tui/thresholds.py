"""The anti-pattern thresholds the user configured: config.toml `[graph]` read here, in the UI
layer, so the analyses stay pure functions of a trace and their arguments."""

from __future__ import annotations

from typing import Any, Mapping

from renacer_tui.analysis.antipatterns import Thresholds
from renacer_tui.store.config import ConfigError, load_config


def configured_thresholds(overrides: Mapping[str, Any] | None = None) -> Thresholds:
    """Defaults < config.toml `[graph]` < `overrides`; an unreadable config file means defaults
    (a bad config must not stop an analysis; `renacer-tui db` reports it)."""
    try:
        graph = load_config().graph
    except ConfigError:
        graph = None
    return Thresholds.from_config(graph, overrides)
