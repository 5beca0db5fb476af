"""Fault suite: the tracer SIGKILLed at random moments of a run (seeded, so each run of the suite
kills at the same moments). Every time the store opens and `db doctor` finds nothing wrong, the
program is not left stopped, and the store holds what the program made but for what the capture
had not yet sent its decoder: at most one record buffer (64 KiB, a few hundred calls)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from kill_points import STAMPED_LOOP, kill_during_trace

#: a 64 KiB record buffer holds about 270 iterations of the loop (3 calls, 2 records each)
_UNSENT_MAX = 300


_MOMENTS = random.Random(17)


@pytest.mark.parametrize("after_s", sorted(round(_MOMENTS.uniform(0.4, 1.6), 2) for _ in range(3)))
def test_a_killed_tracer_leaves_a_sound_store_and_no_stopped_program(tmp_path: Path, cbuild, after_s: float) -> None:
    outcome = kill_during_trace(cbuild("stamped-loop", STAMPED_LOOP), tmp_path, after_s)
    assert outcome.doctor_rc == 0, outcome.doctor
    assert outcome.program_state not in ("t", "T"), outcome  # never left in a (ptrace) stop
    assert outcome.made > 0
    # The program stamps a call after it returns: the call it was in when the tracer died can be
    # stored (its entry was recorded) with a stamp from after the kill, so kept may be made + 1.
    assert outcome.kept <= outcome.made + 1 and outcome.made - outcome.kept <= _UNSENT_MAX, outcome
