"""A host's measurer that exits or stops answering is replaced.

The real service processes (`python -m secmas.trust.measurer_service`), killed with
SIGKILL or stopped with SIGSTOP, measuring a real process. A killed one is replaced at
once, by the driver's watch or by the check that finds it gone, and that check is
answered; a stopped one is the host's state (`down`) at its first miss, as a busy host
may be, and replaced at its second. The run with agents as processes is in
`tests/security/test_measurer_killed.py`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.deadlines import Deadlines
from secmas.trust.measurer_service import (
    NOT_ANSWERING,
    ExternalAttestation,
    HostMeasurer,
    MeasurerError,
)
from secmas.trust.wrap import wrap

ROOT = Path(__file__).resolve().parents[2] / "src" / "secmas"


@pytest.fixture
def external() -> Iterator[ExternalAttestation]:
    """The host's measurer and its relying party, told the pid of agent `a1`."""
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    host = HostMeasurer.launch(ahead=victim.pid)
    external = ExternalAttestation.start(
        None,
        Ed25519PrivateKey.generate(),
        wrap(ROOT, Ed25519PrivateKey.generate()),
        host=host,
        deadlines=Deadlines.bounded(1.0, 4.0),
    )
    external.pids["a1"] = victim.pid
    try:
        yield external
    finally:
        external.stop()
        victim.kill()
        victim.wait()


def _kill(host: HostMeasurer, sig: signal.Signals) -> int:
    os.kill(host.process.pid, sig)
    if sig == signal.SIGKILL:
        host.process.wait()
    return host.process.pid


def test_a_killed_measurer_is_replaced_by_the_watch_with_a_key_of_its_own(
    external: ExternalAttestation,
) -> None:
    first = external.host
    killed = _kill(first, signal.SIGKILL)
    external.revive()
    assert external.restarts == ["measurer exited with status -9"]
    assert external.host.process.pid != killed and external.host.process.poll() is None
    assert external.host.client.public_key != first.client.public_key
    assert external.down is None and not external.check_now("a1").measurer_down
    external.revive()  # an answering measurer is left alone
    assert len(external.restarts) == 1


def test_a_check_that_finds_the_measurer_gone_is_answered_by_its_successor(
    external: ExternalAttestation,
) -> None:
    killed = _kill(external.host, signal.SIGKILL)
    appraisal = external.check_now("a1")
    assert not appraisal.measurer_down, appraisal.reasons
    [why] = external.restarts
    assert why.startswith("measurer at ") and "unreachable" in why
    assert external.host.process.pid != killed and external.down is None


def test_a_stopped_measurer_is_the_hosts_state_then_replaced_at_its_second_miss(
    external: ExternalAttestation,
) -> None:
    assert not external.check_now("a1").measurer_down
    stopped = _kill(external.host, signal.SIGSTOP)
    missed = external.check_now("a1")
    assert missed.measurer_down and NOT_ANSWERING in missed.reasons[0]
    assert external.down == missed.reasons[0] and external.restarts == []
    assert not external.check_now("a1").measurer_down  # its successor answers
    assert external.restarts == [missed.reasons[0]] and external.down is None
    assert external.host.process.pid != stopped
    with pytest.raises(ProcessLookupError):  # the stopped one was killed and reaped
        os.kill(stopped, 0)


def test_no_successor_starts_once_the_run_stopped_its_measurer(
    external: ExternalAttestation,
) -> None:
    """A watch that finds the measurer gone after the run ended (its `stop` raced the
    watch) must not start one that outlives the run, nor leave its folder behind."""
    first = external.host
    _kill(first, signal.SIGKILL)
    external.stop()
    external.revive()
    assert external.restarts == [] and external.host is first
    assert first.private is not None and not first.private.exists()


def test_a_measurer_that_exited_before_it_listened_leaves_no_folder() -> None:
    host = HostMeasurer.launch()
    _kill(host, signal.SIGKILL)
    with pytest.raises(MeasurerError, match="exited with status -9"):
        host.ready()
    assert host.private is not None and not host.private.exists()
