"""Where the NATS bus is: `--bus` parsed into servers and (secret) credentials.

`--bus` holds one server URL or a comma-separated list of them, e.g.
`tls://a.example:4222,tls://b.example:4222` for a cluster: the client connects to the
first that answers and fails over to the others. Schemes: `nats://` (TLS if the server
requires it) and `tls://` (TLS required: the client refuses a server that does not offer
it). A bare `HOST:PORT` means `nats://HOST:PORT`; the port defaults to 4222.

Credentials in a URL (`nats://user:password@host`, `nats://token@host`) are kept apart
from the servers: `servers` and `redacted` never hold them, so what is logged, recorded
in a report or put on another process's command line cannot leak them. Every error
message names the offending server with its credentials masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import SplitResult, unquote, urlsplit

SCHEMES = ("nats", "tls")
DEFAULT_PORT = 4222
MASK = "***"


class BusAddressError(ValueError):
    """A `--bus` value that names no usable server."""


def redact_userinfo(url: str) -> str:
    """`url` with the user and password (or token) before `@` masked; other text as is."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, tail = rest.partition("/")
    if "@" not in authority:
        return url
    host = authority.rsplit("@", 1)[1]
    return f"{scheme}{sep}{MASK}@{host}{slash}{tail}"


@dataclass(frozen=True)
class BusAddress:
    """The servers of a bus and the credentials given with them (never shown)."""

    servers: tuple[str, ...]
    user: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @property
    def tls(self) -> bool:
        """Whether any server is `tls://` (then every connection must be TLS)."""
        return any(s.startswith("tls://") for s in self.servers)

    @property
    def has_credentials(self) -> bool:
        return self.user is not None or self.token is not None

    @property
    def redacted(self) -> str:
        """The servers as one `--bus` value, credentials masked: safe to log and record."""
        prefix = f"{MASK}@" if self.has_credentials else ""
        return ",".join(s.replace("://", f"://{prefix}", 1) for s in self.servers)

    @property
    def plain(self) -> str:
        """The servers as one `--bus` value without any credentials."""
        return ",".join(self.servers)

    def rotated(self, start: int) -> str:
        """The servers as one `--bus` value without credentials, from the `start`-th on:
        clients given different starts spread over the nodes of a cluster."""
        n = start % len(self.servers)
        return ",".join(self.servers[n:] + self.servers[:n])

    @property
    def userinfo(self) -> str | None:
        """The credentials as URL userinfo (`user:password` or `token`); secret."""
        if self.token is not None:
            return self.token
        if self.user is not None:
            return f"{self.user}:{self.password or ''}"
        return None

    @classmethod
    def parse(cls, text: str, *, userinfo: str | None = None) -> BusAddress:
        """The servers of `text` (see the module docstring); `userinfo` (from a secret
        source such as the environment) applies when the URLs carry none."""
        if not text.strip():
            raise BusAddressError("--bus: no server given")
        servers: list[str] = []
        found: set[str] = set()
        for number, raw in enumerate(text.split(","), 1):
            server, credentials = _server(raw.strip(), number)
            servers.append(server)
            if credentials is not None:
                found.add(credentials)
        if len(found) > 1:
            raise BusAddressError("--bus: the servers carry different credentials; give one set")
        secret = next(iter(found), userinfo)
        user = password = token = None
        if secret is not None:
            name, colon, rest = secret.partition(":")
            if colon:
                user, password = unquote(name), unquote(rest)
            else:
                token = unquote(name)
        return cls(tuple(servers), user, password, token)


def _server(raw: str, number: int) -> tuple[str, str | None]:
    """One server as `scheme://host:port`, and the userinfo it carried."""
    shown = f"server {number} {redact_userinfo(raw)!r}"
    if not raw:
        raise BusAddressError(f"--bus: {shown} is empty (a stray comma?)")
    parts = urlsplit(raw if "://" in raw else f"nats://{raw}")
    if parts.scheme not in SCHEMES:
        raise BusAddressError(
            f"--bus: {shown}: scheme {parts.scheme!r} is not one of {', '.join(SCHEMES)}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BusAddressError(f"--bus: {shown}: a server URL has no path, query or fragment")
    host = _host(parts, shown)
    try:
        port = parts.port
    except ValueError:
        raise BusAddressError(f"--bus: {shown}: the port is not a number from 1 to 65535") from None
    if port == 0:
        raise BusAddressError(f"--bus: {shown}: port 0 is not a server's port")
    userinfo = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else None
    if userinfo == "":
        raise BusAddressError(f"--bus: {shown}: empty credentials before '@'")
    return f"{parts.scheme}://{host}:{port or DEFAULT_PORT}", userinfo


def _host(parts: SplitResult, shown: str) -> str:
    host = parts.hostname
    if not host:
        raise BusAddressError(f"--bus: {shown}: no host")
    if any(c.isspace() for c in host):
        raise BusAddressError(f"--bus: {shown}: the host contains spaces")
    return f"[{host}]" if ":" in host else host
