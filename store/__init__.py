"""Span storage: Parquet segments, a SQLite catalog, SQL on DuckDB, exports.

`from renacer_tui.store import Store` works, but lazily: the tracer and the UI import parts of this package and must not pay
for DuckDB/SQLite imports (or risk cycles) just by touching this package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Store", "QueryError", "StoreWriteError", "ConfigError"]


def __getattr__(name: str) -> Any:
    if name == "Store":
        from renacer_tui.store.store import Store

        return Store
    if name == "QueryError":
        from renacer_tui.store.query import QueryError

        return QueryError
    if name == "StoreWriteError":
        from renacer_tui.store.writer import StoreWriteError

        return StoreWriteError
    if name == "ConfigError":
        from renacer_tui.store.config import ConfigError

        return ConfigError
    raise AttributeError(f"module 'store' has no attribute {name!r}")
