"""`--bus`, `--bus-ca`, `--bus-keys` and `--bus-key` on the command line: bad values exit 2
with a message naming the option and the fault, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from secmas.cli.main import app
from secmas.transport.credentials import issue_users

runner = CliRunner()
RUN = ["run", "scenarios/ddos-6pop.yaml", "--processes"]


@pytest.mark.parametrize(
    ("bus", "says"),
    [
        ("nats://a:99999", "port is not a number"),
        ("ftp://a:4222", "scheme 'ftp'"),
        ("nats://a:4222,", "stray comma"),
        ("nats://alice:pw@a,nats://bob:pw2@b", "different credentials"),
    ],
)
def test_a_bad_bus_exits_2_naming_it(bus: str, says: str) -> None:
    result = runner.invoke(app, [*RUN, "--bus", bus])
    assert result.exit_code == 2
    assert "--bus" in result.output and says in result.output
    assert "pw" not in result.output.replace("--bus", "")


def test_the_agent_command_checks_its_bus_too() -> None:
    result = runner.invoke(app, ["agent", "--pop", "pop1", "--bus", "nats://h:0"])
    assert result.exit_code == 2 and "port 0" in result.output


def test_bus_files_without_a_bus_are_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, [*RUN, "--bus-keys", str(tmp_path)])
    assert result.exit_code == 2 and "need --bus" in result.output


def test_a_ca_that_is_no_certificate_exits_2(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("junk")
    result = runner.invoke(app, [*RUN, "--bus", "tls://127.0.0.1:1", "--bus-ca", str(junk)])
    assert result.exit_code == 2 and "not a readable PEM certificate" in result.output


def test_an_nkey_seed_open_to_others_exits_2(tmp_path: Path) -> None:
    seed = issue_users(tmp_path, ["pop1"])["pop1"].seed_file
    assert seed is not None
    seed.chmod(0o644)
    args = ["agent", "--pop", "pop1", "--bus", "tls://127.0.0.1:1", "--bus-key", str(seed)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "chmod 600" in result.output


def test_missing_bus_keys_folder_exits_2(tmp_path: Path) -> None:
    none = tmp_path / "none"
    result = runner.invoke(app, [*RUN, "--bus", "nats://127.0.0.1:1", "--bus-keys", str(none)])
    assert result.exit_code == 2 and f"--bus-keys {none}: no such folder" in result.output


def test_a_seed_missing_from_bus_keys_exits_2(tmp_path: Path) -> None:
    args = [*RUN, "--insecure", "--bus", "nats://127.0.0.1:1", "--bus-keys", str(tmp_path)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "mlfo.nk" in result.output


def test_credentials_on_the_command_line_are_warned_about_and_masked() -> None:
    args = ["agent", "--pop", "nope", "--bus", "nats://alice:s3cret@127.0.0.1:1"]
    result = runner.invoke(app, args)
    assert "visible to every local user" in result.output and "s3cret" not in result.output
    plain = ["agent", "--pop", "nope", "--bus", "nats://127.0.0.1:1"]
    quiet = runner.invoke(app, plain, env={"SECMAS_BUS_AUTH": "alice:s3cret"})
    assert "visible to every local user" not in quiet.output


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("bad host!!", "--host 'bad host!!': neither an IP address nor a DNS name"),
        ("", "--host '': neither an IP address nor a DNS name: an empty name"),
    ],
)
def test_bus_certs_refuses_a_host_no_client_could_dial(
    tmp_path: Path, host: str, says: str
) -> None:
    out = tmp_path / "pki"
    args = ["bus", "certs", "--out", str(out), "--server", "n1", "--host", "127.0.0.1"]
    result = runner.invoke(app, [*args, "--host", host], terminal_width=200)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_the_agent_refuses_a_ledger_ca_without_a_ledger(tmp_path: Path) -> None:
    from secmas.transport.tls import issue_run_pki

    ca = issue_run_pki(tmp_path, ["ledger"])["ledger"].ca_file
    args = ["agent", "--pop", "pop1", "--bus", "nats://127.0.0.1:1", "--ledger-ca", str(ca)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "--ledger-ca needs --ledger" in result.output
    assert "no NATS server" not in result.output, "it tried to connect first"
    plain = runner.invoke(app, [*args, "--ledger", "http://127.0.0.1:1"])
    assert plain.exit_code == 2, plain.output
    assert "--ledger-ca: only for an https:// --ledger, not 'http://127.0.0.1:1'" in plain.output
