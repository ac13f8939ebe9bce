"""CTI exchanged as organisations exchange it: over TAXII 2.1 (deliverable 004, Section 4.1:
the filtered data "is then serialised in STIX format and exchanged with peer clusters").

Each domain's CTI agent publishes its bundle (`ShareResult.domain_bundles`) to its own
collection on a TAXII 2.1 server (Add Objects); subscribers poll every collection they may
read (Get Objects, page by page), parse what they received with `stix2` (no custom
content) and compute hygiene from that alone.

The server is OASIS's reference TAXII 2.1 server, `medallion`, or any other at a URL given
by the user. `MedallionServer` runs medallion (`secmas.cti.medallion`: with a fix for
objects that have a `version` property) as a child process on loopback with a
configuration written to a folder of the run: a memory backend holding one API root
(`cti`) with one collection per domain (titled with the domain's name), and credentials
of its own drawn for the run, one user per publishing domain and one for subscribers
(medallion checks HTTP Basic credentials on every request; its memory backend does not
tie a user to collections, which are readable and writable by any user it knows). On an
existing server the collections must already exist (TAXII 2.1 has no request to create
one): a domain publishes to the collection titled with its name.

medallion's memory backend compares each added object with every object already in the
collection, so publishing is quadratic in a collection's size on that server: fine for a
domain's scan, not for the 20 MB reports of the benchmark (which times `secmas.cti.share`).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from secmas import strictjson
from secmas.cti.hygiene import hygiene_scores
from secmas.cti.sharing import SharedReport
from secmas.cti.stix import parse_bundle, read_bundle

API_ROOT = "cti"
PAGE = 500
"""Objects per Get Objects page (medallion's `max_page_size`)."""
MAX_CONTENT = 128 * 1024 * 1024
"""The largest request medallion accepts (its API root's `max_content_length`)."""
START_TIMEOUT = 30.0
ACCEPT = {"Accept": "application/taxii+json;version=2.1"}
CONFIG_FILE = "medallion.json"
DATA_FILE = "medallion-data.json"


class TaxiiError(Exception):
    """A TAXII server that cannot be reached, refuses us, or lacks a collection."""


@dataclass(frozen=True)
class TaxiiAccess:
    """Where a TAXII 2.1 server's discovery endpoint is, and whose credentials to use."""

    url: str
    user: str
    password: str = field(repr=False)

    def server(self) -> Server:
        return Server(self.url, user=self.user, password=self.password)


@dataclass(frozen=True)
class Published:
    """The outcome of one Add Objects request."""

    domain: str
    collection: str
    succeeded: int
    failed: int


@dataclass(frozen=True)
class Received:
    """What a subscriber polled from one collection."""

    collection: str
    title: str
    objects: int
    reports: tuple[SharedReport, ...]


@dataclass(frozen=True)
class Exchange:
    """A round of publication and polling, and the hygiene a subscriber computed."""

    url: str
    published: tuple[Published, ...]
    received: tuple[Received, ...]
    hygiene: dict[str, float]

    def summary(self) -> dict[str, Any]:
        """A JSON-ready record (no credentials)."""
        return {
            "server": self.url,
            "published": [asdict(p) for p in self.published],
            "received": [
                {"collection": r.collection, "title": r.title, "objects": r.objects}
                for r in self.received
            ],
            "hygiene": {d: round(h, 4) for d, h in self.hygiene.items()},
        }


# -- the server ---------------------------------------------------------------------------
def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def medallion_files(
    folder: Path, domains: Sequence[str], port: int, users: Mapping[str, str]
) -> Path:
    """Write medallion's configuration and its memory backend's initial data (API root,
    one collection per domain) into `folder`; the configuration's path. Both files are
    readable by their owner only: the configuration holds the credentials."""
    base = f"http://127.0.0.1:{port}"
    collections = [
        {
            "id": str(uuid.uuid4()),
            "title": domain,
            "description": f"vulnerability CTI published by domain {domain}",
            "can_read": True,
            "can_write": True,
            "media_types": ["application/stix+json;version=2.1"],
            "objects": [],
            "manifest": [],
        }
        for domain in dict.fromkeys(domains)
    ]
    data = {
        "/discovery": {
            "title": "secmas CTI exchange",
            "description": "TAXII 2.1 server of one secmas run",
            "default": f"{base}/{API_ROOT}/",
            "api_roots": [f"{base}/{API_ROOT}/"],
        },
        API_ROOT: {
            "information": {
                "title": "secmas CTI",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": MAX_CONTENT,
            },
            "status": [],
            "collections": collections,
        },
    }
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(folder / DATA_FILE),
        },
        "users": dict(users),
        "taxii": {"max_page_size": PAGE},
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in ((DATA_FILE, data), (CONFIG_FILE, config)):
        path = folder / name
        path.touch(mode=0o600)
        path.write_text(strictjson.dumps(content, indent=1), encoding="utf-8")
    return folder / CONFIG_FILE


class MedallionServer:
    """medallion on loopback for the given domains, as a child process (a context manager)."""

    def __init__(self, folder: Path, domains: Sequence[str]) -> None:
        if not domains:
            raise ValueError("a TAXII server needs at least one domain's collection")
        self.folder = folder
        self.domains = list(dict.fromkeys(domains))
        self.users = {f"publisher-{d}": secrets.token_urlsafe(18) for d in self.domains}
        self.users["subscriber"] = secrets.token_urlsafe(18)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/taxii2/"

    def publisher(self, domain: str) -> TaxiiAccess:
        user = f"publisher-{domain}"
        return TaxiiAccess(self.url, user, self.users[user])

    def subscriber(self) -> TaxiiAccess:
        return TaxiiAccess(self.url, "subscriber", self.users["subscriber"])

    def start(self) -> MedallionServer:
        for _attempt in range(3):  # another process may take the free port first
            self.port = free_port()
            config = medallion_files(self.folder, self.domains, self.port, self.users)
            log = (self.folder / "medallion.log").open("wb")
            command = [sys.executable, "-m", "secmas.cti.medallion", "--port", str(self.port)]
            self.process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            log.close()
            if self._ready():
                return self
            self.stop()
        tail = (self.folder / "medallion.log").read_text(errors="replace")[-800:]
        raise TaxiiError(f"medallion did not start on 127.0.0.1 (its log ends: {tail.strip()})")

    def _ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        auth = ("subscriber", self.users["subscriber"])
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                answer = requests.get(self.url, auth=auth, headers=ACCEPT, timeout=1)
                if answer.status_code == 200:
                    return True
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> MedallionServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# -- publishing and polling ----------------------------------------------------------------
def _api_root(access: TaxiiAccess) -> ApiRoot:
    try:
        server = access.server()
        root = server.default or (server.api_roots[0] if server.api_roots else None)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        reason = "wrong user or password" if status == 401 else str(exc)
        raise TaxiiError(f"TAXII server {access.url}: HTTP {status}: {reason}") from None
    except (requests.RequestException, TAXIIServiceException) as exc:
        raise TaxiiError(f"TAXII server {access.url} cannot be reached: {exc}") from None
    if root is None:
        raise TaxiiError(f"TAXII server {access.url} lists no API root")
    return root


def collections(access: TaxiiAccess) -> dict[str, Collection]:
    """The collections of the server's default API root, by title."""
    root = _api_root(access)
    try:
        return {c.title: c for c in root.collections}
    except (requests.RequestException, TAXIIServiceException) as exc:
        raise TaxiiError(f"TAXII server {access.url}: cannot list collections: {exc}") from None


def publish(access: TaxiiAccess, domain: str, bundle_text: str) -> Published:
    """Add a domain's bundle to the collection titled with the domain's name."""
    found = collections(access)
    collection = found.get(domain)
    if collection is None:
        titles = ", ".join(sorted(found)) or "none"
        raise TaxiiError(
            f"TAXII server {access.url} has no collection titled {domain!r} for domain "
            f"{domain} (collections: {titles})"
        )
    if not collection.can_write:
        raise TaxiiError(f"TAXII collection {domain!r} on {access.url} is not writable")
    try:
        status = collection.add_objects(bundle_text, poll_interval=0.2, timeout=60)
    except (requests.RequestException, TAXIIServiceException) as exc:
        raise TaxiiError(f"publishing {domain} to {access.url}: {exc}") from None
    if status.status != "complete":
        raise TaxiiError(f"publishing {domain} to {access.url}: status {status.status}")
    return Published(domain, collection.id, status.success_count, status.failure_count)


def poll(access: TaxiiAccess, titles: Sequence[str] | None = None) -> list[Received]:
    """Every object of every readable collection (or those titled `titles`), parsed and
    read as a subscriber does; bad content raises CTIInputError naming the collection."""
    found = collections(access)
    wanted = list(found) if titles is None else [t for t in titles if t in found]
    missing = [t for t in titles or () if t not in found]
    if missing:
        raise TaxiiError(f"TAXII server {access.url} has no collection titled {missing[0]!r}")
    received = []
    for title in wanted:
        collection = found[title]
        if not collection.can_read:
            continue
        objects: list[Any] = []
        try:
            for page in as_pages(collection.get_objects, per_request=PAGE):
                objects.extend(page.get("objects", []))
        except (requests.RequestException, TAXIIServiceException) as exc:
            raise TaxiiError(f"polling {title} on {access.url}: {exc}") from None
        bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
        source = f"{access.url} collection {title!r}"
        reports = read_bundle(parse_bundle(json.dumps(bundle), source)) if objects else []
        received.append(Received(collection.id, title, len(objects), tuple(reports)))
    return received


def exchange(
    bundles: Mapping[str, str],
    publishers: Mapping[str, TaxiiAccess],
    subscriber: TaxiiAccess,
) -> Exchange:
    """Each domain publishes its bundle; the subscriber polls the domains' collections and
    computes hygiene from what it received."""
    published = tuple(publish(publishers[d], d, text) for d, text in bundles.items())
    received = tuple(poll(subscriber, list(bundles)))
    reports = [report for r in received for report in r.reports]
    return Exchange(subscriber.url, published, received, hygiene_scores(reports))


def exchange_on_medallion(bundles: Mapping[str, str], folder: Path) -> Exchange:
    """`exchange` through a medallion started in `folder` for the run and stopped after."""
    with MedallionServer(folder, list(bundles)) as server:
        publishers = {d: server.publisher(d) for d in bundles}
        return exchange(bundles, publishers, server.subscriber())
