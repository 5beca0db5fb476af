"""The receiver's one exception, in a module of its own so nothing heavy loads with it."""


class PayloadError(ValueError):
    """A request that is not a usable OTLP trace export (answered 400 / INVALID_ARGUMENT)."""
