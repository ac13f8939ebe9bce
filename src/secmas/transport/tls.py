"""TLS for the NATS bus: a per-run certificate authority and the servers' certificates.

A run that starts its own nats-server makes a fresh CA (ECDSA P-256, `cryptography`),
issues one certificate per server for its loopback addresses, and throws the CA's
private key away once they are signed: nobody, the run included, can issue another
certificate under it afterwards. Clients trust only that CA (`client_context`), so a
server that cannot show a certificate of this run is refused, whatever the system's
trust store holds.

Server certificates carry both TLS usages: `serverAuth` for clients, `clientAuth` for the
routes of a cluster, where each server connects to the others with its own certificate
and every route must show one of this run (mutual TLS, `verify: true`).

Files: `ca.pem` (public), `<server>.pem` (public), `<server>-key.pem` (mode 0600).

A certificate names its hosts as subject alternative names: each an IP address or a DNS
name of RFC 1123 (`check_host`); anything else is refused before a file is written, since
no client could dial it and match the certificate.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "ca.pem"
KEY_SUFFIX = "-key.pem"
_VALIDITY = datetime.timedelta(days=2)
"""Long enough for any run; a stolen server key is worthless after it."""
_CLOCK_SKEW = datetime.timedelta(minutes=5)
SECRET_MODE = 0o600
MAX_DNS_NAME = 253
"""Longest DNS name, in characters without a final dot (RFC 1035, Section 2.3.4)."""
MAX_LABEL = 63
_LABEL = re.compile(r"[A-Za-z0-9-]+")
_SERVER_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ServerCertificate:
    """Where one server's certificate and key are, for its `tls {}` block."""

    cert_file: Path
    key_file: Path
    ca_file: Path


def write_secret(path: Path, data: bytes) -> None:
    """Create `path` readable by its owner only, from the start (never 0644 for an instant);
    an existing file is replaced."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "secmas run"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def check_host(host: str) -> None:
    """Raise ValueError unless `host` is an IP address or an RFC 1123 DNS name (labels of
    1 to 63 letters, digits and hyphens, none at a label's ends; 253 characters at most;
    the last label not all digits, which would be a mistyped address). The message starts
    with the host, quoted, then says why."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        fault = _dns_name_fault(host)
        if fault:
            raise ValueError(f"{host!r}: neither an IP address nor a DNS name: {fault}") from None


def check_server_names(servers: Sequence[str]) -> None:
    """Raise ValueError unless each name can be a file name in the folder: the name
    becomes NAME.pem and NAME-key.pem, so `../x` would put a private key outside it and a
    name given twice would overwrite the first one's. The message starts with the name."""
    seen: set[str] = set()
    for server in servers:
        if not _SERVER_NAME.fullmatch(server):
            raise ValueError(f"{server!r}: a server name is letters, digits, '.', '_' and '-'")
        if not server[0].isalnum():
            raise ValueError(f"{server!r}: a server name starts with a letter or digit")
        if server in seen:
            raise ValueError(f"{server!r} is named twice: each server needs its own name")
        seen.add(server)


def _dns_name_fault(host: str) -> str:
    """Why `host` is not an RFC 1123 DNS name; empty when it is one."""
    if not host:
        return "an empty name"
    if len(host) > MAX_DNS_NAME:
        return f"{len(host)} characters, over {MAX_DNS_NAME}"
    labels = host.split(".")
    for label in labels:
        if not label:
            return "an empty label (two dots in a row, or a dot at an end)"
        if not _LABEL.fullmatch(label):
            return f"label {label!r} has characters other than letters, digits and hyphens"
        if len(label) > MAX_LABEL:
            return f"label {label[:12]}… is longer than {MAX_LABEL} characters"
        if label.startswith("-") or label.endswith("-"):
            return f"label {label!r} starts or ends with a hyphen"
    if labels[-1].isdigit():
        return "it ends in a number, as an IP address does, but is not one"
    return ""


def _subject_alt_names(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, name: str, hosts: Sequence[str]
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_subject_alt_names(hosts), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def issue_run_pki(
    folder: Path, servers: Sequence[str], hosts: Sequence[str] = ("127.0.0.1", "localhost")
) -> dict[str, ServerCertificate]:
    """A fresh CA in `folder` and a certificate for each named server, valid for `hosts`;
    the CA's key is discarded when this returns. `folder` is created owner-only.
    ValueError, before any file is written, for a host that `check_host` refuses or server
    names that `check_server_names` does."""
    if not servers:
        raise ValueError("issue_run_pki needs at least one server name")
    check_server_names(servers)
    for host in hosts:
        check_host(host)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key, ca = _ca(f"secmas run CA {folder.name}")
    ca_file = folder / CA_FILE
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    issued: dict[str, ServerCertificate] = {}
    for server in servers:
        key, cert = _leaf(ca_key, ca, server, hosts)
        cert_file, key_file = folder / f"{server}.pem", folder / f"{server}{KEY_SUFFIX}"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_secret(
            key_file,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        issued[server] = ServerCertificate(cert_file, key_file, ca_file)
    return issued


def client_context(ca_file: Path | None) -> ssl.SSLContext:
    """What a client checks servers with: TLS ≥ 1.2, the certificate chained to `ca_file`
    (the system's trust store when None) and naming the host it dials."""
    try:
        context = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"CA file {ca_file}: {exc.strerror or exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
