"""CTI exchanged as organisations exchange it: over TAXII 2.1 (deliverable 004, Section 4.1:
the filtered data "is then serialised in STIX format and exchanged with peer clusters").

Each domain's CTI agent publishes its bundle (`ShareResult.domain_bundles`) to its own
collection on a TAXII 2.1 server (Add Objects); subscribers poll every collection they may
read (Get Objects, page by page), parse what they received with `stix2` (no custom
content) and compute hygiene from that alone.

Nothing a collection holds is taken on its word (a peer that wrote into another
domain's collection, or claimed another domain in its own, lowered that domain's hygiene
below the placement threshold). Each domain signs what it publishes with its own key
(`secmas.cti.signing`: a detached JWS over the canonical bundle, in a `note` of the
bundle), and the subscriber, holding the public key pinned for each domain:

- keeps only objects covered by a signature that verifies with the key of the
  collection's domain (the collection is titled with the domain's name);
- refuses a signed bundle whose reports or findings claim a domain other than the
  collection's, and one whose shared CVSS vectors or dates are not valid;
- recomputes each finding's risk from the shared vector and date
  (`secmas.cti.reassess`) instead of taking the publisher's value.

What it refuses never reaches hygiene; `Received.refused` and the exchange's summary say
what was refused and why.

The server is OASIS's reference TAXII 2.1 server, `medallion`, or any other at a URL given
by the user. `MedallionServer` runs medallion (`secmas.cti.medallion`: with a fix for
objects that have a `version` property) as a child process on loopback with a
configuration written to a folder of the run: a memory backend holding one API root
(`cti`) with one collection per domain (titled with the domain's name), and credentials
of its own drawn for the run, one user per publishing domain and one for subscribers
(medallion checks HTTP Basic credentials on every request). Its backend
(`secmas.cti.medallion.DomainWriteBackend`) lets each domain's user write to that
domain's collection only (HTTP 403 elsewhere); every user may read. On an existing server
the collections must already exist (TAXII 2.1 has no request to create one) and its
operator grants the rights: a domain publishes to the collection titled with its name.

medallion's memory backend compares each added object with every object already in the
collection, so publishing is quadratic in a collection's size on that server: fine for a
domain's scan, not for the 20 MB reports of the benchmark (which times `secmas.cti.share`).
"""

from __future__ import annotations

import json
import os
import secrets
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
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from secmas import strictjson
from secmas.cti.hygiene import hygiene_scores
from secmas.cti.reassess import reassessed
from secmas.cti.risk import RiskParams
from secmas.cti.sharing import SharedReport
from secmas.cti.signing import (
    DomainKey,
    SignatureError,
    is_signature,
    new_keys,
    pinned,
    signed_bundle,
    signed_objects,
    thumbprint,
)
from secmas.cti.stix import parse_bundle, read_bundle
from secmas.listenport import free_port

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
    """The outcome of one Add Objects request (its bundle's objects; the signature aside)."""

    domain: str
    collection: str
    succeeded: int
    failed: int


@dataclass(frozen=True)
class Refusal:
    """Objects of a collection the subscriber did not take in, and why."""

    reason: str
    objects: int


@dataclass(frozen=True)
class Received:
    """What a subscriber polled from one collection: objects (signatures aside), the
    reports it took in, and what it refused."""

    collection: str
    title: str
    objects: int
    reports: tuple[SharedReport, ...]
    signatures: int = 0
    refused: tuple[Refusal, ...] = ()


@dataclass(frozen=True)
class Exchange:
    """A round of publication and polling, and the hygiene a subscriber computed."""

    url: str
    published: tuple[Published, ...]
    received: tuple[Received, ...]
    hygiene: dict[str, float]
    keys: dict[str, str] = field(default_factory=dict)
    """Domain → thumbprint (RFC 7638) of the public key the subscriber pinned for it."""

    def summary(self) -> dict[str, Any]:
        """A JSON-ready record (no credentials)."""
        return {
            "server": self.url,
            "keys": self.keys,
            "published": [asdict(p) for p in self.published],
            "received": [
                {
                    "collection": r.collection,
                    "title": r.title,
                    "objects": r.objects,
                    "signatures": r.signatures,
                    "refused": [asdict(x) for x in r.refused],
                }
                for r in self.received
            ],
            "hygiene": {d: round(h, 4) for d, h in self.hygiene.items()},
        }


# -- the server ---------------------------------------------------------------------------
def medallion_files(
    folder: Path,
    domains: Sequence[str],
    port: int,
    users: Mapping[str, str],
    writers: Mapping[str, Sequence[str]],
) -> Path:
    """Write medallion's configuration and its memory backend's initial data (API root,
    one collection per domain, `writers[domain]` the users that may write to it) into
    `folder`; the configuration's path. Both files are readable by their owner only: the
    configuration holds the credentials."""
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
            "module": "secmas.cti.medallion",
            "module_class": "DomainWriteBackend",
            "filename": str(folder / DATA_FILE),
            "writers": {c["id"]: list(writers.get(c["title"], ())) for c in collections},
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


RELAY = "relay"


class MedallionServer:
    """medallion on loopback for the given domains, as a child process (a context manager).

    Each domain's publisher may write to its own collection only. With `relay`, one more
    user (`relay()`) may write to every collection: a server whose operator lets one CTI
    agent publish for several domains, as `--taxii URL` with one user does."""

    def __init__(self, folder: Path, domains: Sequence[str], *, relay: bool = False) -> None:
        if not domains:
            raise ValueError("a TAXII server needs at least one domain's collection")
        self.folder = folder
        self.domains = list(dict.fromkeys(domains))
        self.users = {f"publisher-{d}": secrets.token_urlsafe(18) for d in self.domains}
        self.users["subscriber"] = secrets.token_urlsafe(18)
        extra = [RELAY] if relay else []
        if relay:
            self.users[RELAY] = secrets.token_urlsafe(18)
        self.writers = {d: [f"publisher-{d}", *extra] for d in self.domains}
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

    def relay(self) -> TaxiiAccess:
        if RELAY not in self.users:
            raise ValueError("this server was started without a relay user")
        return TaxiiAccess(self.url, RELAY, self.users[RELAY])

    def start(self) -> MedallionServer:
        for _attempt in range(3):  # another process may take the free port first
            self.port = free_port()
            config = medallion_files(self.folder, self.domains, self.port, self.users, self.writers)
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


def publish(access: TaxiiAccess, domain: str, bundle_text: str, key: DomainKey) -> Published:
    """Sign a domain's bundle with its key and add it to the collection titled with the
    domain's name."""
    found = collections(access)
    collection = found.get(domain)
    if collection is None:
        titles = ", ".join(sorted(found)) or "none"
        raise TaxiiError(
            f"TAXII server {access.url} has no collection titled {domain!r} for domain "
            f"{domain} (collections: {titles})"
        )
    if not collection.can_write:
        raise TaxiiError(
            f"TAXII collection {domain!r} on {access.url} is not writable by user {access.user}"
        )
    signed, note = signed_bundle(json.loads(bundle_text), key)
    try:
        status = collection.add_objects(signed, poll_interval=0.2, timeout=60)
    except (requests.RequestException, TAXIIServiceException) as exc:
        raise TaxiiError(f"publishing {domain} to {access.url}: {exc}") from None
    if status.status != "complete":
        raise TaxiiError(f"publishing {domain} to {access.url}: status {status.status}")
    signature = sum(1 for s in status.successes or () if s.get("id") == note)
    return Published(domain, collection.id, status.success_count - signature, status.failure_count)


def poll(
    access: TaxiiAccess,
    keys: Mapping[str, Ed25519PublicKey],
    titles: Sequence[str] | None = None,
    params: RiskParams | None = None,
) -> list[Received]:
    """Every object of every readable collection (or those titled `titles`), verified with
    the key pinned for the collection's domain in `keys`, parsed and read as a subscriber
    does (risks recomputed with `params`). What fails verification is refused and
    recorded; content that is not strict STIX 2.1 raises CTIInputError naming the
    collection; a collection whose domain has no pinned key raises TaxiiError."""
    found = collections(access)
    wanted = list(found) if titles is None else [t for t in titles if t in found]
    missing = [t for t in titles or () if t not in found]
    if missing:
        raise TaxiiError(f"TAXII server {access.url} has no collection titled {missing[0]!r}")
    unpinned = [t for t in wanted if t not in keys]
    if unpinned:
        known = ", ".join(sorted(keys)) or "none"
        raise TaxiiError(
            f"no public key pinned for domain {unpinned[0]!r} (collection on {access.url}); "
            f"keys are pinned for: {known}"
        )
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
        source = f"{access.url} collection {title!r}"
        received.append(_verified(collection.id, title, objects, keys[title], source, params))
    return received


def _verified(
    collection: str,
    title: str,
    objects: list[Any],
    key: Ed25519PublicKey,
    source: str,
    params: RiskParams | None,
) -> Received:
    """What a subscriber takes in from one collection: the reports of the bundles that
    domain `title` signed and that speak of `title` only."""
    objects = [o for o in objects if isinstance(o, dict)]
    notes = [o for o in objects if is_signature(o)]
    by_id = {str(o.get("id")): o for o in objects if not is_signature(o)}
    reports: list[SharedReport] = []
    refused: list[Refusal] = []
    seen: set[str] = set()
    for note in notes:
        refs = note.get("object_refs")
        covers = [r for r in refs if isinstance(r, str)] if isinstance(refs, list) else []
        seen.update(covers)
        where = f"signature {str(note.get('id'))[:48]}"
        try:
            signed = signed_objects(note, by_id, key)
        except SignatureError as exc:
            refused.append(Refusal(f"{where}: {exc}", len(covers)))
            continue
        bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": signed}
        got = read_bundle(parse_bundle(json.dumps(bundle), source))
        problem = _claims(got, title)
        if problem is None:
            try:
                got = [reassessed(r, params) for r in got]
            except ValueError as exc:
                problem = f"a shared finding does not hold: {exc}"
        if problem is not None:
            refused.append(Refusal(f"{where}: {problem}", len(signed)))
            continue
        reports.extend(r for r in got if r not in reports)
    unsigned = [i for i in by_id if i not in seen]
    if unsigned:
        reason = f"{len(unsigned)} objects carry no signature of domain {title} ({unsigned[0]})"
        refused.append(Refusal(reason, len(unsigned)))
    return Received(collection, title, len(by_id), tuple(reports), len(notes), tuple(refused))


def _claims(reports: Sequence[SharedReport], title: str) -> str | None:
    """Why `reports` may not stand in domain `title`'s collection, or None."""
    domains = {r.domain for r in reports} | {f.domain for r in reports for f in r.findings}
    others = sorted(domains - {title})
    if others:
        return f"the bundle claims domain {', '.join(others)} in the collection of {title}"
    return None


def exchange(
    bundles: Mapping[str, str],
    publishers: Mapping[str, TaxiiAccess],
    subscriber: TaxiiAccess,
    keys: Mapping[str, DomainKey] | None = None,
    trusted: Mapping[str, Ed25519PublicKey] | None = None,
    params: RiskParams | None = None,
) -> Exchange:
    """Each domain signs its bundle with its key in `keys` (drawn for this exchange when
    None) and publishes it; the subscriber polls the domains' collections, verifies them
    with the keys in `trusted` (the public halves of `keys` when None) and computes
    hygiene from what it took in."""
    signers = dict(keys) if keys is not None else new_keys(bundles)
    lacking = [d for d in bundles if d not in signers]
    if lacking:
        raise TaxiiError(f"no signing key for domain {lacking[0]!r}")
    pins = dict(trusted) if trusted is not None else pinned(signers)
    published = tuple(publish(publishers[d], d, text, signers[d]) for d, text in bundles.items())
    received = tuple(poll(subscriber, pins, list(bundles), params))
    reports = [report for r in received for report in r.reports]
    fingerprints = {d: thumbprint(pins[d]) for d in bundles}
    return Exchange(subscriber.url, published, received, hygiene_scores(reports), fingerprints)


def exchange_on_medallion(
    bundles: Mapping[str, str],
    folder: Path,
    keys: Mapping[str, DomainKey] | None = None,
    trusted: Mapping[str, Ed25519PublicKey] | None = None,
    params: RiskParams | None = None,
) -> Exchange:
    """`exchange` through a medallion started in `folder` for the run and stopped after,
    each domain publishing as its own user."""
    with MedallionServer(folder, list(bundles)) as server:
        publishers = {d: server.publisher(d) for d in bundles}
        return exchange(bundles, publishers, server.subscriber(), keys, trusted, params)
