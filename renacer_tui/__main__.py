"""`python -m renacer_tui` is the same as the `renacer-tui` command."""

from renacer_tui.cli import main

raise SystemExit(main())
