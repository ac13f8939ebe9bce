"""A process's stat line, read in one place: the fields after the command name, whatever
the name holds (spaces, parentheses), and None for a process that is gone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.procstat import ProcStat, parse_stat, read_stat

TAIL = "S 41 7 7 0 -1 4194560 10 0 0 0 12 5 3 1 20 0 1 0 98765 1000 50"
"""The fields after a command name: state S, parent 41, utime..cstime 12 5 3 1, start 98765."""


@given(name=st.text(alphabet=st.characters(blacklist_characters="\0\n"), max_size=16))
def test_any_command_name_leaves_the_fields_after_it(name: str) -> None:
    stat = parse_stat(f"123 ({name}) {TAIL}")
    assert stat == ProcStat(state="S", parent=41, cpu_ticks=21, start_ticks=98765)


@pytest.mark.parametrize("line", ["", "123 (x)", "123 x S 1", "123 (x) S one 7"])
def test_a_line_that_is_no_stat_line_is_refused(line: str) -> None:
    with pytest.raises(ValueError):
        parse_stat(line)


def test_a_live_process_reads_and_a_reaped_one_is_gone() -> None:
    own = read_stat(os.getpid())
    assert own is not None and own.parent == os.getppid() and own.cpu_seconds > 0
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert read_stat(child.pid) is None
