"""Scrubbing identifiers out of free text before it is shared (deliverable 004, Section
4.1: only what the sensitivity map lets through leaves the domain).

A scanner's free text (the report's `scanner`, a CSV's `Task Name`, a finding's `title`
or `NVT Name`, the OS string) is written by people and tools that do not know it will be
shared: `gvm-master.corp.internal (10.99.0.5) … alice@corp.example
/opt/gvm/secret-token=…` is a real-looking scanner banner. When the sensitivity map lets
such a field through, the identifiers inside it are still replaced by a placeholder
naming their kind:

| what | placeholder | recognised as |
| --- | --- | --- |
| URL (with or without credentials) | `[url]` | `scheme://…` up to the next space |
| e-mail address | `[email]` | `local@host.tld` |
| credential | `name=[secret]` | `name=value`, `name: value`; name holds token, key, … |
| file path | `[path]` | an absolute POSIX path, `~/…`, or `C:\\…` |
| IPv6 / IPv4 address | `[ip]` | what `ipaddress` accepts (optional `/prefix`) |
| host name / FQDN | `[host]` | two or more DNS labels ending in a letter label |
| long hex or base64 string | `[secret]` | ≥ 16 hex digits; ≥ 20 base64 with digits |
| a known name, IP | `[host]`, `[ip]` | given by the caller (`gvm-master`) |

The caller knows names a pattern cannot find: the scanned hosts' names and addresses, and
the short form (`gvm-master`) of every full name (`gvm-master.corp.internal`) written in
any of the free text shared together (`names_in`, `host_names`).

The scrubber errs towards removing: `Node.js` reads as a host name and goes. What it
cannot know (a person's name, a single-label host name no report lists) it cannot find,
which is why free text is dropped unless the publisher's map says otherwise.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://\S+")
_EMAIL = re.compile(r"[\w.+%-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_CREDENTIAL = re.compile(
    r"(?i)\b([\w.-]*(?:token|secret|passw(?:or)?d|pwd|pass|key|auth|credential|session|cookie)"
    r"[\w.-]*)(\s*[=:]\s*)(\S+)"
)
_PATH = re.compile(r"(?<![\w.:/])(?:~|[A-Za-z]:\\|/)[\w.@%+~=\\/-]*[\w=~-]")
_IP_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]*(?:/\d{1,3})?(?![\w:])")
_HOST = re.compile(
    r"(?<![\w-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?![\w-])"
)
_HEX = re.compile(r"(?<![\w])[0-9A-Fa-f]{16,}(?![\w])")
_BASE64 = re.compile(r"(?<![\w+/=-])[A-Za-z0-9+/_-]{20,}={0,2}(?![\w+/=-])")

PLACEHOLDERS = ("[url]", "[email]", "[secret]", "[path]", "[ip]", "[host]")
"""Every placeholder the scrubber writes."""


def scrub(text: str, hosts: Iterable[str] = (), addresses: Iterable[str] = ()) -> str:
    """`text` with every identifier replaced by its placeholder (see the module table);
    `hosts` and `addresses` are names and IPs known to be sensitive (the scanned hosts')."""
    text = _URL.sub("[url]", text)
    text = _EMAIL.sub("[email]", text)
    text = _CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}[secret]", text)
    text = _PATH.sub("[path]", text)
    text = _IP_CANDIDATE.sub(_ip, text)
    text = _HOST.sub("[host]", text)
    text = _HEX.sub("[secret]", text)
    text = _BASE64.sub(_base64, text)
    text = _known(text, addresses, "[ip]")
    return _known(text, hosts, "[host]")


def _ip(match: re.Match[str]) -> str:
    candidate = match.group(0).strip(".")
    address = candidate.partition("/")[0]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return match.group(0)
    return match.group(0).replace(candidate, "[ip]")


def _base64(match: re.Match[str]) -> str:
    token = match.group(0)
    letters = any(c.isalpha() for c in token)
    digits = any(c.isdigit() for c in token)
    return "[secret]" if letters and digits else token


def _known(text: str, values: Iterable[str], placeholder: str) -> str:
    """Replace each value (longest first) where it stands as a whole word."""
    for value in sorted({v for v in values if v}, key=len, reverse=True):
        word = re.compile(rf"(?<![\w.-]){re.escape(value)}(?![\w-])", re.IGNORECASE)
        text = word.sub(placeholder, text)
    return text


def names_in(text: str) -> list[str]:
    """The host names written out in full (FQDNs) in `text`, e-mail domains and URL hosts
    included: once a name is seen in full anywhere, its short form is known too."""
    return [m.group(0) for m in _HOST.finditer(text.replace("@", " ").replace("/", " "))]


def host_names(hostname: str) -> tuple[str, ...]:
    """A host name and its first label (`gvm-master.corp.internal` → also `gvm-master`),
    the short form people write in free text."""
    first = hostname.split(".", 1)[0]
    return (hostname, first) if first != hostname and len(first) >= 3 else (hostname,)
