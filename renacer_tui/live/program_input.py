"""The live screen's input line: what the user types goes to the traced program's stdin.

The terminal belongs to the UI, so the program cannot read it; `i` opens this line, Enter sends
what it holds and a newline through the capture child's pipe (`CaptureChild.send_input`),
ctrl+d ends the program's input (end of file), escape hides the line and keeps the input open.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input


class ProgramInput(Input):
    """One line of input for the traced program."""

    BINDINGS = [
        Binding("ctrl+d", "screen.end_program_input", "End input"),  # over Input's delete-right
        Binding("escape", "screen.hide_program_input", "Hide", show=False),
    ]
