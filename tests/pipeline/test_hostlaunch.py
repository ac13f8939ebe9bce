"""The handover line: what the host-list driver writes to a host's launcher, and what the
launcher makes of it (files in its private folder, the same `secmas agent` launch)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.pipeline.hostlaunch import HandoverError, handover, receive
from secmas.pipeline.iml import AgentLaunch


def test_a_launch_arrives_with_its_files_and_secrets(tmp_path: Path) -> None:
    sent = tmp_path / "sent"
    sent.mkdir()
    files = {name: sent / name for name in ("s.yaml", "ca.pem", "pop1.nk", "cred.json")}
    for name, path in files.items():
        path.write_text(json.dumps({"content of": name}))
    launch = AgentLaunch(
        "pop1", files["s.yaml"], "tls://10.0.0.2:4222", "pipe", "http://10.0.0.2:8545", 5.0,
        bus_ca=files["ca.pem"], bus_nkey=files["pop1.nk"], bus_auth="u:pw",
        enrolment=files["cred.json"], ledger_token="t0k",
    )  # fmt: skip
    line = handover(launch)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    host = tmp_path / "host"
    host.mkdir()
    got = receive(line, host)
    assert got.argv("py")[4:] == [
        str(host / "scenario.yaml"), "--pop", "pop1", "--bus",
        "tls://10.0.0.2:4222", "--pipeline", "pipe", "--ledger", "http://10.0.0.2:8545",
        "--tamper-at", "5.0", "--bus-ca", str(host / "bus-ca.pem"),
        "--bus-key", str(host / "agent.nk"),
    ]  # fmt: skip
    assert got.bus_auth == "u:pw" and got.enrolment == host / "enrolment.json"
    assert got.env()["SECMAS_LEDGER_TOKEN"] == "t0k"
    assert {p.name: p.stat().st_mode & 0o777 for p in host.iterdir()} == {
        "scenario.yaml": 0o600, "bus-ca.pem": 0o600, "agent.nk": 0o600, "enrolment.json": 0o600,
    }  # fmt: skip
    assert (host / "agent.nk").read_text() == '{"content of": "pop1.nk"}'


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"format": "other"}, "not a secmas.agent-handover/1 object"),
        ({"files": {"scenario": "x", "keys": "k"}}, "must be among"),
        ({"files": {"scenario": 1}}, "file scenario is not text"),
        ({"pop": ""}, "pop must be a non-empty string"),
        ({"ledger": 5}, "ledger must be a string or null"),
        ({"tamper_at": "soon"}, "tamper_at must be a number or null"),
    ],
)
def test_a_malformed_handover_is_refused(tmp_path: Path, message: dict, reason: str) -> None:
    good = {
        "format": "secmas.agent-handover/1",
        "pop": "pop1",
        "bus": "nats://h:4222",
        "pipeline": "p",
        "files": {"scenario": "id: x\n"},
    }
    with pytest.raises(HandoverError, match=reason):
        receive(json.dumps(good | message).encode(), tmp_path)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_make_a_launch_or_a_handover_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    with contextlib.suppress(HandoverError):
        receive(data, tmp_path_factory.mktemp("host"))


def test_the_launcher_says_why_when_its_input_ends_early() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "secmas.pipeline.hostlaunch"],
        input=b'{"format": "secmas.agent-handover/1"',
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert b"no complete handover line on stdin" in done.stderr
