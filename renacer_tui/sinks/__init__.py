"""Span sinks: what the fan-out feeds.  `base.SpanSink` is the one interface every sink implements."""
