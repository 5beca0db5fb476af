"""The span model beneath every layer: schema, attribute keys, span and link kinds, syscall facts, ids.

The tracer, the store, the sinks, the analyses and the UI all import this package; it imports
none of them (pyarrow, python-ptrace and the standard library only), so a fact about a span is
written down once and every layer reads the same one.  tests/test_model.py checks the isolation.
"""
