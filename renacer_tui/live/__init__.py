"""The live feature in one home: the capture child (`child`), the bounded model of its feed
(`model`), the per-batch alerts (`alerts`), the screen (`screen`, `screen.tcss`), its span pane
(`span_log`) and side panes (`panes`), and the `renacer-tui -- CMD` entry that ties them to the
app (`run`)."""
