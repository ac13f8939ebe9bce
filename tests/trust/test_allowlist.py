"""The agents' allow-lists: variables by name, the command line by its exact shape."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import secmas
from secmas.experiment.worker import THREAD_VARIABLES
from secmas.ledger.keyfile import MLFO_KEY_ENV, SECAAS_KEY_ENV
from secmas.pipeline.iml import AgentLaunch
from secmas.pipeline.spawner import spawner_argv
from secmas.trust.allowlist import AGENT_VARIABLES, CommandShape, agent_command, agent_environment

LAUNCH = AgentLaunch(
    pop="pop1",
    scenario=Path("/run/scenario.yaml"),
    bus="nats://127.0.0.1:4222",
    pipeline="p1",
    ledger="http://127.0.0.1:8545",
    tamper_at=30.0,
    bus_ca=Path("/run/bus-ca.pem"),
    bus_nkey=Path("/run/agent.nk"),
    bus_auth="user:secret",
    ledger_ca=Path("/run/ledger-ca.pem"),
    enrolment=Path("/run/enrolment.json"),
)
FULL = LAUNCH.argv()
DRIVER_KEYS = {MLFO_KEY_ENV, SECAAS_KEY_ENV}


def test_the_mlfo_s_and_secaas_s_key_files_never_reach_an_agent() -> None:
    """The driver's ledger keys stay out of every agent's environment."""
    source = {MLFO_KEY_ENV: "/keys/mlfo.key", SECAAS_KEY_ENV: "/keys/secaas.key", "PATH": "/bin"}
    assert agent_environment(source) == {"PATH": "/bin"}


def test_the_project_s_own_variables_are_all_allowed() -> None:
    """Every `SECMAS_…` variable the source reads (but the measurer's settings and the
    MLFO's and SECaaS's ledger keys, which the driver reads and hands to no agent), the
    credentials the launchers hand over and the thread counts the experiment runner sets."""
    source = Path(secmas.__file__).parent
    read = {
        name
        for path in source.rglob("*.py")
        for name in re.findall(r"\"(SECMAS_[A-Z_]+)\"", path.read_text(encoding="utf-8"))
        if not name.startswith("SECMAS_MEASURER_") and name not in DRIVER_KEYS
    }
    assert read and read <= AGENT_VARIABLES, read - AGENT_VARIABLES
    assert set(LAUNCH.env()) <= AGENT_VARIABLES
    assert set(THREAD_VARIABLES) <= AGENT_VARIABLES


def test_a_launcher_hands_over_only_allowed_variables() -> None:
    shell = {"PATH": "/usr/bin", "HOME": "/root", "OPENSSL_CONF": "/x", "AWS_CA_BUNDLE": "/y"}
    assert agent_environment(shell) == {"PATH": "/usr/bin", "HOME": "/root"}


@pytest.mark.parametrize(
    "name",
    ["LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP",
     "PYTHONWARNINGS", "PYTHONUSERBASE", "PYTHONBREAKPOINT", "OPENSSL_CONF", "OPENSSL_MODULES",
     "GCONV_PATH", "MPLCONFIGDIR", "SSL_CERT_FILE"],
)  # fmt: skip
def test_no_variable_that_loads_or_trusts_something_is_allowed(name: str) -> None:
    assert name not in AGENT_VARIABLES


def test_the_launchers_command_line_has_the_agent_shape() -> None:
    assert agent_command().problems(FULL) == []
    minimal = AgentLaunch("pop1", Path("s.yaml"), "nats://h:1", "p1").argv()
    assert agent_command().problems(minimal) == []
    assert agent_command("python").problems(LAUNCH.argv("python")) == []


def test_an_agent_forked_by_the_spawner_shows_the_spawner_s_command_line() -> None:
    spawner = spawner_argv(Path("/tmp/run"))
    assert agent_command().problems(spawner) == []
    for argv, reason in (
        ([*spawner, "--run", "/x"], "--run given twice"),
        ([*spawner, "-X", "importtime"], "'-X' is not expected"),
        (spawner[:3], "lacks --run"),
        ([sys.executable, "-X", "dev", *spawner[1:]], "command line starts"),
    ):
        problems = agent_command().problems(argv)
        assert problems and reason in problems[0], (argv, problems)


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        ([sys.executable, "-X", "importtime", *FULL[1:]], "command line starts"),
        ([sys.executable, "-c", "import secmas", *FULL[3:]], "command line starts"),
        (["/tmp/venv/bin/python", *FULL[1:]], "command line starts"),
        ([*FULL[:4]], "command line lacks its 1 argument(s) after 'agent'"),
        ([*FULL[:4], "--pop", "pop1"], "command line lacks its 1 argument(s)"),
        ([*FULL, "--debug", "1"], "command line option '--debug' is not expected"),
        ([*FULL, "--pop", "pop2"], "command line option --pop given twice"),
        ([*FULL, "--ledger"], "command line option --ledger given twice"),
        ([*FULL[:5], "--pop=pop1", "--bus", "b", "--pipeline", "p"], "'--pop=pop1' is not"),
        ([*FULL[:5], "--bus", "b", "--pipeline", "p"], "command line lacks --pop"),
        ([*FULL[:5], "--pop", "p", "--bus", "b", "--pipeline"], "--pipeline without a value"),
    ],
)
def test_any_other_command_line_is_named(argv: list[str], reason: str) -> None:
    problems = agent_command().problems(argv)
    assert any(reason in p for p in problems), problems


@given(st.lists(st.text(max_size=12), max_size=12))
@example(["000\x1f\x1f\x1f\x08\U00010d3a\U0001239a\U00018d09"] * 5)  # escapes grow 10×
def test_any_words_give_problems_or_none_never_an_error(argv: list[str]) -> None:
    shape = CommandShape("python", ("-m", "secmas"), 1, frozenset({"--a"}), frozenset({"--a"}))
    problems = shape.problems(argv)
    assert all(isinstance(p, str) and len(p) < 300 for p in problems)
    assert problems or argv[:3] == ["python", "-m", "secmas"]
