"""The external measurer's evidence: log, PCR-style aggregate, signature, parsing and
appraisal rules, and the service measuring this very process from another one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

import secmas
from secmas.trust.allowlist import CommandShape
from secmas.trust.measurer import (
    Expectation,
    LogEntry,
    MeasurerError,
    PlatformReference,
    SignedEvidence,
    aggregate_of,
    appraise,
    extend,
)
from secmas.trust.measurer_service import ExternalAttestation, HostMeasurer
from secmas.trust.wrap import wrap

SECAAS = Ed25519PrivateKey.generate()
MEASURER = Ed25519PrivateKey.generate()
NONCE = bytes(range(32))
REFERENCE = PlatformReference(
    interpreter="aa" * 32,
    files={"/usr/lib/libc.so.6": "bb" * 32},
    hooks={"/site/distutils-precedence.pth": "cc" * 32},
    variables=frozenset({"PATH", "HOME"}),
).sign(SECAAS)
SHAPE = CommandShape("python3", ("-m", "agent"))
BASE = [
    LogEntry.of("exe", "/usr/bin/python3", sha256="aa" * 32),
    LogEntry.of("file", "/usr/lib/libc.so.6", sha256="bb" * 32),
    LogEntry.of("cmdline", "argv", argv=json.dumps(["python3", "-m", "agent"])),
    LogEntry.of("module", "agent", sha256="dd" * 32),
]


def verdict(*extra: LogEntry, command: CommandShape | None = None) -> tuple[str, ...]:
    evidence = SignedEvidence.sign(MEASURER, "host", 42, NONCE, [*BASE, *extra])
    expected = Expectation(NONCE, 42, {"agent": "dd" * 32}, command)
    return appraise(
        evidence, REFERENCE, MEASURER.public_key(), expected, SECAAS.public_key()
    ).reasons


def test_aggregate_extends_like_a_pcr() -> None:
    first, second = BASE[0], BASE[1]
    assert aggregate_of([first, second]) == extend(extend(bytes(32), first), second)
    assert aggregate_of([second, first]) != aggregate_of([first, second])


@given(st.sampled_from(["file", "text", "env"]), st.text(max_size=12),
       st.dictionaries(st.text(max_size=6), st.text(max_size=8), max_size=4))  # fmt: skip
def test_an_entry_encodes_as_canonical_json(kind: str, subject: str, facts: dict[str, str]) -> None:
    entry = LogEntry(kind, subject, tuple(sorted(facts.items())))
    canonical = json.dumps(entry.to_json(), sort_keys=True, separators=(",", ":")).encode()
    assert entry.encode() == canonical


def test_evidence_round_trips() -> None:
    evidence = SignedEvidence.sign(MEASURER, "host", 42, NONCE, BASE)
    again = SignedEvidence.decode(evidence.encode())
    assert again == evidence and again.signed_by(MEASURER.public_key())


def test_a_clean_log_passes_and_each_rule_bites() -> None:
    assert verdict() == ()
    assert verdict(LogEntry.of("file", "/usr/lib/libc.so.6", sha256="ee" * 32)) == (
        "mapped file /usr/lib/libc.so.6 differs from its reference",
    )
    # no directory is trusted: a file beside a listed one is not listed
    assert verdict(LogEntry.of("file", "/usr/lib/evil.so", sha256="bb" * 32)) == (
        "maps /usr/lib/evil.so, which the platform reference does not list",
    )
    assert verdict(LogEntry.of("file", "/usr/lib/libc.so.6 (deleted)", sha256="deleted"))
    assert verdict(LogEntry.of("text", "/usr/lib/libc.so.6@0", memory="1", file="2"))
    assert verdict(LogEntry.of("text", "/usr/lib/libc.so.6@0", memory="1", file="1")) == ()
    assert verdict(LogEntry.of("hook", "/site/distutils-precedence.pth", sha256="cc" * 32)) == ()
    assert verdict(LogEntry.of("hook", "/site/evil.pth", sha256="cc" * 32))
    assert verdict(LogEntry.of("env", "PATH", sha256="ee" * 32)) == ()
    assert verdict(LogEntry.of("env", "OPENSSL_CONF", sha256="ee" * 32)) == (
        "environment OPENSSL_CONF set, not on the allow-list",
    )
    assert verdict(LogEntry.of("module", "agent.extra", sha256="ff" * 32))
    assert verdict(command=SHAPE) == ()
    assert verdict(command=CommandShape("python3", ("-c",)))


def test_the_allow_lists_are_under_the_reference_signature() -> None:
    widened = replace(REFERENCE, variables=REFERENCE.variables | {"OPENSSL_CONF"})
    assert not widened.signed_by(SECAAS.public_key())
    added = replace(REFERENCE, files={**REFERENCE.files, "/tmp/evil.so": "ee" * 32})
    assert not added.signed_by(SECAAS.public_key())
    assert REFERENCE.signed_by(SECAAS.public_key())


def test_a_command_line_not_recorded_as_words_fails_a_shape() -> None:
    broken = LogEntry.of("cmdline", "argv", argv='{"not": "a list"}')
    evidence = SignedEvidence.sign(MEASURER, "host", 42, NONCE, [*BASE[:2], broken, BASE[3]])
    expected = Expectation(NONCE, 42, {"agent": "dd" * 32}, SHAPE)
    appraisal = appraise(evidence, REFERENCE, MEASURER.public_key(), expected, SECAAS.public_key())
    assert appraisal.reasons == ("command line not recorded as a list of words",)


def test_a_log_without_its_module_files_fails() -> None:
    evidence = SignedEvidence.sign(MEASURER, "host", 42, NONCE, BASE[:3])
    expected = Expectation(NONCE, 42, {"agent": "dd" * 32})
    reasons = appraise(evidence, REFERENCE, MEASURER.public_key(), expected, SECAAS.public_key())
    assert not reasons.passed


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_parser(data: bytes) -> None:
    with contextlib.suppress(MeasurerError):
        SignedEvidence.decode(data)


JSON = st.recursive(
    st.none() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@given(JSON)
def test_arbitrary_json_in_an_evidence_frame_only_raises_measurer_error(value: object) -> None:
    frame = json.loads(SignedEvidence.sign(MEASURER, "host", 42, NONCE, BASE).encode())
    for key in ("pid", "entries", "nonce", "measurer"):
        broken = {**frame, key: value}
        with contextlib.suppress(MeasurerError):
            SignedEvidence.decode(json.dumps(broken).encode())


def test_the_run_process_is_measured_by_a_separate_measurer(tmp_path: Path) -> None:
    root = Path(secmas.__file__).parent
    external = ExternalAttestation.start(tmp_path, SECAAS, wrap(root, SECAAS), shared=True)
    try:
        external.pids["everyone"] = os.getpid()  # in-process: every agent is this process
        appraisal = asyncio.run(external.check("everyone"))
        assert appraisal.passed, appraisal.reasons
        assert not asyncio.run(external.check("stranger")).passed
        report = external.report()
        assert report["checks"] == 2 and report["measurer_pid"] != os.getpid()
        assert report["measurements"] == 1
        # three agents in one process: the process is measured once per three checks
        external.pids.update({"a": os.getpid(), "b": os.getpid()})
        asked = [asyncio.run(external.check(agent)).passed for agent in "ab" * 2]
        assert asked == [True] * 4
        assert external.report()["measurements"] == 2  # "everyone", then the 4th check
    finally:
        external.stop()
    with pytest.raises(MeasurerError):
        external.host.client.measure_now(os.getpid(), secrets.token_bytes(32))


@pytest.mark.parametrize("ahead", ["this process", "a process gone"])
def test_a_measurer_launched_to_measure_ahead_answers_fresh_checks(
    tmp_path: Path, ahead: str
) -> None:
    # Measuring ahead fills the measurer's caches only: a check still measures now, under
    # its own nonce, and a process gone by then does not keep the service from starting.
    if ahead == "this process":
        pid = os.getpid()
    else:
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
        pid = int(gone.stdout)
    root = Path(secmas.__file__).parent
    host = HostMeasurer.launch(tmp_path, ahead=pid)
    external = ExternalAttestation.start(
        tmp_path, SECAAS, wrap(root, SECAAS), shared=True, host=host
    )
    try:
        external.pids["everyone"] = os.getpid()
        appraisal = asyncio.run(external.check("everyone"))
        assert appraisal.passed, appraisal.reasons
        nonce = secrets.token_bytes(32)
        assert host.client.measure_now(os.getpid(), nonce).nonce == nonce
    finally:
        external.stop()


def test_a_measurer_that_never_listens_fails_the_first_check_naming_why(tmp_path: Path) -> None:
    # begin() returns at once (the bring-up goes on); what went wrong comes with the check
    host = HostMeasurer.launch(tmp_path)
    host.process.kill()
    host.process.wait()
    root = Path(secmas.__file__).parent
    external = ExternalAttestation.begin(SECAAS, wrap(root, SECAAS), host, shared=True)
    try:
        external.pids["everyone"] = os.getpid()
        appraisal = asyncio.run(external.check("everyone"))
        assert not appraisal.passed
        assert appraisal.reasons[0].startswith("measurer unavailable: measurer exited")
        with pytest.raises(MeasurerError, match="measurer exited"):
            external.prepared.result()
    finally:
        external.stop()


def test_a_measurer_whose_driver_died_exits(tmp_path: Path) -> None:
    """A driver killed without stopping its measurer leaves no process behind."""
    script = (
        "import sys, pathlib\n"
        "from secmas.trust.measurer_service import HostMeasurer\n"
        "print(HostMeasurer.start(pathlib.Path(sys.argv[1])).process.pid, flush=True)\n"
    )  # exits at once, without stop()
    driver = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, timeout=60, check=True
    )
    measurer = int(driver.stdout.split()[-1])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{measurer}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{measurer}").exists()
