"""Server certificates name only hosts a client can dial: an IP address or an RFC 1123 DNS
name; anything else is refused before a file is written (`secmas.transport.tls`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography import x509

from secmas.transport.tls import check_host, issue_run_pki

LONGEST = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "::1",
        "localhost",
        "nats-0.nats.secmas-x.svc.cluster.local",
        "1nats.example",
        "A" * 63,
        LONGEST,
    ],
)
def test_addresses_and_dns_names_are_accepted(host: str) -> None:
    check_host(host)


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("bad host!!", "'bad host!!': neither an IP address nor a DNS name"),
        ("", "'': neither an IP address nor a DNS name: an empty name"),
        ("-nats.example", "label '-nats' starts or ends with a hyphen"),
        ("nats-.example", "label 'nats-' starts or ends with a hyphen"),
        ("a..b", "an empty label"),
        ("example.", "an empty label"),
        ("a" * 64 + ".example", "longer than 63 characters"),
        (LONGEST + "b", "254 characters, over 253"),
        ("nats_0.example", "letters, digits and hyphens"),
        ("*.example", "letters, digits and hyphens"),
        ("nätts.example", "letters, digits and hyphens"),
        ("10.0.0.256", "ends in a number, as an IP address does, but is not one"),
    ],
)
def test_other_hosts_are_refused_naming_the_fault(host: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        check_host(host)


def test_a_bad_host_writes_no_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad host"):
        issue_run_pki(tmp_path / "pki", ["n1"], ["127.0.0.1", "bad host!!"])
    assert not (tmp_path / "pki").exists()


def test_the_certificate_names_each_host(tmp_path: Path) -> None:
    issued = issue_run_pki(tmp_path, ["n1"], ["10.0.0.1", "nats.example"])["n1"]
    cert = x509.load_pem_x509_certificate(issued.cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["nats.example"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.1"]


@pytest.mark.parametrize(
    ("servers", "says"),
    [
        (["../escaped"], "'../escaped': a server name is letters, digits, '.', '_' and '-'"),
        (["a/b"], "'a/b': a server name is letters, digits"),
        ([""], "'': a server name is letters, digits"),
        ([".."], "'..': a server name starts with a letter or digit"),
        (["n1", "n1"], "'n1' is named twice"),
    ],
)
def test_a_server_name_that_would_leave_the_folder_or_overwrite_is_refused(
    tmp_path: Path, servers: list[str], says: str
) -> None:
    # The names become NAME.pem and NAME-key.pem in the folder: `../escaped` would write a
    # private key beside it, and a name given twice would overwrite the first's key.
    folder = tmp_path / "pki"
    with pytest.raises(ValueError, match=re.escape(says)):
        issue_run_pki(folder, servers)
    assert not folder.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
