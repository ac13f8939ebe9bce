"""How a field is anonymised when the sharing rule says so (deliverable 004, Section 4.1:
each key-value pair is either "include"d or "anonymise"d).

Each field keeps what a subscriber can still use without the detail the publisher guards:

| field | method | example |
| --- | --- | --- |
| `host_ip` | prefix truncation (IPv4 /24, IPv6 /48) | `10.20.1.17` → `10.20.1.0/24` |
| `hostname` | keyed pseudonym | `cdn-01.edge-a` → `hostname-3f1c…` |
| `cve` | keyed pseudonym | `CVE-2021-23017` → `vuln-9b02…` |
| `cpe` | generalisation: version and later → `*` | `…:nginx:1.18.0:*…` → `…:nginx:*:*…` |
| `os` | generalisation: the family, without version | `Ubuntu 20.04.6 LTS` → `Ubuntu` |
| `port` | generalisation: the transport protocol | `443/tcp` → `tcp` |
| `cvss_vector` | generalisation: the CVSS version | `CVSS:3.1/AV:N/…` → `CVSS:3.1` |
| `published` | generalisation: the year | `2021-06-01` → `2021` |
| `title`, `scanner`, `task` | redaction: left out | `OpenVAS on gvm-01…` → (none) |

Free text has no structure to generalise, and any part of it may name a host or a person:
anonymised, it is left out of the bundle altogether (the `anonymised` list still says it
was withheld). Free text that is included is scrubbed instead (`secmas.cti.freetext`).

Pseudonyms are HMAC-SHA256 under the publisher's key over the field name and the value,
truncated to 64 bits: the same value under the same key always gives the same pseudonym
(a subscriber can still count and correlate), and nobody without the key can confirm a
guess, unlike a plain hash of a low-entropy value such as a CVE id.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable

PSEUDONYM_HEX = 16
PSEUDONYM_PREFIX = {"hostname": "hostname-", "cve": "vuln-", "host": "host-"}

METHODS = {
    "host_ip": "prefix-truncation",
    "hostname": "keyed-pseudonym",
    "cve": "keyed-pseudonym",
    "cpe": "generalisation",
    "os": "generalisation",
    "port": "generalisation",
    "cvss_vector": "generalisation",
    "published": "generalisation",
    "title": "redaction",
    "scanner": "redaction",
    "task": "redaction",
}
"""Anonymisation method per shareable field (the names listed in the STIX output)."""


def pseudonym(key: bytes, field: str, value: str) -> str:
    """Keyed pseudonym of `value` in `field`: prefix + 16 hex digits of HMAC-SHA256."""
    if not key:
        raise ValueError("the pseudonym key must not be empty")
    mac = hmac.new(key, f"{field}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX.get(field, "anon-") + mac[:PSEUDONYM_HEX]


def truncate_ip(ip: str, v4_prefix: int = 24, v6_prefix: int = 48) -> str:
    """The network of `ip` with only its first `v4_prefix` / `v6_prefix` bits, in CIDR form."""
    address = ipaddress.ip_address(ip)
    prefix = v4_prefix if address.version == 4 else v6_prefix
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def cpe_parts(cpe: str) -> list[str]:
    """Split a CPE on colons not escaped with a backslash."""
    parts, current, escaped = [], "", False
    for char in cpe:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            current, escaped = current + char, True
        elif char == ":":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def generalise_cpe(cpe: str) -> str:
    """Keep part, vendor and product; version and every later component become `*`
    (CPE 2.3 formatted string), or are dropped (CPE 2.2 URI)."""
    parts = cpe_parts(cpe)
    if cpe.startswith("cpe:2.3:"):
        return ":".join(parts[:5] + ["*"] * (len(parts) - 5))
    return ":".join(parts[:4])


def generalise_os(os: str) -> str:
    """The OS family: the words before the first one holding a digit (`unknown` if none)."""
    words = []
    for word in os.split():
        if any(ch.isdigit() for ch in word):
            break
        words.append(word)
    return " ".join(words) or "unknown"


def generalise_port(port: str) -> str:
    """`443/tcp` → `tcp`: the protocol, without the port number."""
    return port.rpartition("/")[2] or "unknown"


def generalise_cvss(vector: str) -> str:
    """`CVSS:3.1/AV:N/…` → `CVSS:3.1`: the version, without the metrics."""
    return vector.split("/", 1)[0]


def generalise_date(published: str) -> str:
    """`2021-06-01` → `2021`: the year only."""
    return published[:4]


def anonymise(field: str, value: str, key: bytes, v4_prefix: int = 24, v6_prefix: int = 48) -> str:
    """The anonymised form of `value` for `field` (see the table in the module docstring);
    empty for redacted free text."""
    generalisers: dict[str, Callable[[str], str]] = {
        "host_ip": lambda v: truncate_ip(v, v4_prefix, v6_prefix),
        "cpe": generalise_cpe,
        "os": generalise_os,
        "port": generalise_port,
        "cvss_vector": generalise_cvss,
        "published": generalise_date,
    }
    if field in generalisers:
        return generalisers[field](value)
    if METHODS.get(field) == "redaction":
        return ""
    if field in METHODS:
        return pseudonym(key, field, value)
    raise ValueError(f"unknown field {field!r}: expected one of {', '.join(METHODS)}")
