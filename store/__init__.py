"""Span storage: Parquet segments, a SQLite catalog, SQL on DuckDB, exports."""
