"""The server side of the bus's security: the run's certificates, the server's
configuration file (checked by nats-server itself) and `secmas bus keys` / `certs`."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import CliRunner

from secmas.cli.main import app
from secmas.pipeline.busaccess import agent_permissions, issue_pipeline_users
from secmas.transport.broker import (
    MISSING_BINARY,
    ClusterPeer,
    NatsServer,
    find_nats_server,
    server_config,
)
from secmas.transport.credentials import NatsUser, Permissions
from secmas.transport.tls import CA_FILE, issue_run_pki


def test_server_certificates_chain_to_the_run_ca_for_loopback(tmp_path: Path) -> None:
    issued = issue_run_pki(tmp_path / "pki", ["n1", "n2"])
    ca = x509.load_pem_x509_certificate((tmp_path / "pki" / CA_FILE).read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for files in issued.values():
        cert = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)
        assert files.key_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "pki").stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in (tmp_path / "pki").iterdir()) == [
        "ca.pem",
        "n1-key.pem",
        "n1.pem",
        "n2-key.pem",
        "n2.pem",
    ]


def test_an_empty_allow_list_allows_nothing() -> None:
    user = NatsUser("mute", "UXXX", Permissions(subscribe=("a.b",)))
    config = server_config("127.0.0.1", 4222, name="s", users=[user])
    entry = config["authorization"]["users"][0]
    assert entry["permissions"]["publish"] == {"deny": [">"]}
    assert entry["permissions"]["subscribe"] == {"allow": ["a.b"]}


def test_agent_permissions_name_only_the_agent_itself_among_agents() -> None:
    rules = agent_permissions("p", "pop1")
    own = [s for s in rules.publish + rules.subscribe if s.endswith(".pop1")]
    assert own and not [s for s in rules.publish + rules.subscribe if "pop2" in s]
    assert not {">", "secmas.>", "secmas.start.p", "secmas.tick.p"} & set(rules.publish)


@pytest.mark.skipif(find_nats_server() is None, reason=MISSING_BINARY)
def test_nats_server_accepts_the_configuration_it_is_given(tmp_path: Path) -> None:
    """nats-server's own check (`-t`) of a TLS, nkeys and cluster configuration."""
    pki = issue_run_pki(tmp_path / "pki", ["n1"])
    users = issue_pipeline_users(tmp_path / "keys", "p", ["pop1", "pop2"])
    config = server_config(
        "127.0.0.1",
        14222,
        name="n1",
        tls=pki["n1"],
        users=users,
        cluster=ClusterPeer(16222, (16223, 16224)),
        monitor_port=18222,
    )
    path = tmp_path / "server.conf"
    path.write_text(json.dumps(config))
    binary = find_nats_server()
    assert binary is not None
    check = subprocess.run([binary, "-c", str(path), "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.skipif(find_nats_server() is None, reason=MISSING_BINARY)
def test_a_tls_server_is_reached_with_a_tls_url(tmp_path: Path) -> None:
    server = NatsServer(tls=issue_run_pki(tmp_path, ["nats"])["nats"])
    with server:
        assert server.url.startswith("tls://127.0.0.1:")
    assert not server.running


def test_bus_keys_writes_seeds_and_an_includable_authorization(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    result = CliRunner().invoke(app, ["bus", "keys", "scenarios/ddos-6pop.yaml", "--out", str(out)])
    assert result.exit_code == 0, result.output
    seeds = sorted(p.name for p in out.glob("*.nk"))
    assert seeds == ["mlfo.nk"] + [f"pop{i}.nk" for i in range(1, 7)]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in out.glob("*.nk"))
    text = (out / "authorization.conf").read_text()
    block = json.loads(text.removeprefix("authorization: "))
    assert len(block["users"]) == 7
    assert not [p for p in out.glob("*.nk") if p.read_text().strip() in text]  # public keys only


@pytest.mark.skipif(find_nats_server() is None, reason=MISSING_BINARY)
def test_bus_keys_output_is_a_valid_server_include(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    CliRunner().invoke(app, ["bus", "keys", "scenarios/ddos-6pop.yaml", "--out", str(out)])
    conf = tmp_path / "server.conf"
    conf.write_text('port: 14223\ninclude "keys/authorization.conf"\n')  # relative to conf
    binary = find_nats_server()
    assert binary is not None
    check = subprocess.run([binary, "-c", str(conf), "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_bus_certs_issues_a_ca_and_server_certificates(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    args = ["bus", "certs", "--out", str(out), "--server", "a", "--server", "b"]
    result = CliRunner().invoke(app, [*args, "--host", "10.0.0.1", "--host", "nats.example"])
    assert result.exit_code == 0, result.output
    cert = x509.load_pem_x509_certificate((out / "a.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["nats.example"]
    assert "--bus-ca" in result.output
