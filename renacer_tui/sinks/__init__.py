"""Span sinks: the fan-out and everything it feeds (each implements `renacer_tui.model.sink.SpanSink`)."""
