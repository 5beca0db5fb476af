"""Trace assertions: renacer.toml, the condition language, metrics of a stored trace, reports."""
