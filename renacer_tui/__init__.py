"""renacer-tui: a program's system calls as one OpenTelemetry golden thread, in the terminal."""

__version__ = "0.1.0"
