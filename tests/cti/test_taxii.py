"""CTI over TAXII 2.1: each domain publishes its bundle to its collection on a real
medallion server (loopback, a free port, credentials of the test), a subscriber polls the
collections and computes hygiene from what it received."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from secmas.cti.share import ShareResult, share
from secmas.cti.signing import new_keys, pinned
from secmas.cti.taxii import (
    CONFIG_FILE,
    PAGE,
    MedallionServer,
    TaxiiAccess,
    TaxiiError,
    collections,
    exchange,
    exchange_on_medallion,
    poll,
    publish,
)

CTI = Path(__file__).resolve().parents[2] / "scenarios" / "cti"
REPORTS = [CTI / name for name in ("edge-a.json", "edge-b.csv", "core-c.json")]
MAPS = (CTI / "sensitivity.yaml", CTI / "necessity.yaml")


@pytest.fixture(scope="module")
def result() -> ShareResult:
    return share(REPORTS, *MAPS, key=b"publisher key")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MedallionServer]:
    with MedallionServer(tmp_path, ["edge-a", "edge-b", "core-c"]) as running:
        yield running


def test_bundles_published_and_polled_give_the_same_hygiene(result, tmp_path) -> None:
    done = exchange_on_medallion(result.domain_bundles, tmp_path)
    assert [p.domain for p in done.published] == ["edge-a", "edge-b", "core-c"]
    assert all(p.failed == 0 and p.succeeded > 0 for p in done.published)
    for received, domain in zip(done.received, ["edge-a", "edge-b", "core-c"], strict=True):
        sent = json.loads(result.domain_bundles[domain])["objects"]
        assert received.title == domain and received.objects == len(sent)
    assert all(got.signatures == 1 and got.refused == () for got in done.received)
    assert [r for got in done.received for r in got.reports] == list(result.shared)
    assert done.hygiene == result.hygiene
    summary = json.dumps(done.summary())
    assert "publisher-" not in summary and "password" not in summary
    assert set(done.summary()["keys"]) == {"edge-a", "edge-b", "core-c"}


def test_each_domain_writes_to_its_own_collection_only(server) -> None:
    found = collections(server.publisher("edge-a"))
    assert [t for t, c in found.items() if c.can_write] == ["edge-a"]
    assert not any(c.can_write for c in collections(server.subscriber()).values())
    with pytest.raises(TaxiiError, match=r"'edge-b' .* not writable by user publisher-edge-a"):
        publish(server.publisher("edge-a"), "edge-b", "{}", new_keys(["edge-b"])["edge-b"])


def test_the_server_runs_on_loopback_with_its_own_credentials(server, tmp_path) -> None:
    config = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert set(config["users"]) == {
        "publisher-edge-a",
        "publisher-edge-b",
        "publisher-core-c",
        "subscriber",
    }
    assert stat.S_IMODE((tmp_path / CONFIG_FILE).stat().st_mode) == 0o600
    assert server.url.startswith("http://127.0.0.1:")
    assert set(collections(server.subscriber())) == {"edge-a", "edge-b", "core-c"}


def test_the_server_is_stopped_after(result, tmp_path) -> None:
    with MedallionServer(tmp_path, ["edge-a"]) as running:
        port = running.port
        process = running.process
    assert process is not None and process.poll() is not None
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_large_collections_are_polled_page_by_page(result, server) -> None:
    bundle = json.loads(result.domain_bundles["core-c"])
    padding = [
        {**o, "id": o["id"][:-4] + f"{i:04x}"}
        for i, o in enumerate(
            [next(o for o in bundle["objects"] if o["type"] == "vulnerability")] * (PAGE + 20)
        )
    ]
    bundle["objects"] += padding
    keys = new_keys(["core-c"])
    publish(server.publisher("core-c"), "core-c", json.dumps(bundle), keys["core-c"])
    [received] = poll(server.subscriber(), pinned(keys), ["core-c"])
    assert received.objects == len(bundle["objects"]) > PAGE
    assert received.refused == () and len(received.reports) == 1


def test_a_domain_without_a_pinned_key_is_named(result, server) -> None:
    with pytest.raises(TaxiiError, match=r"no public key pinned for domain 'edge-b'.*edge-a"):
        poll(server.subscriber(), pinned(new_keys(["edge-a"])), ["edge-a", "edge-b"])


def test_an_unsigned_bundle_is_refused_and_recorded(result, tmp_path) -> None:
    with MedallionServer(tmp_path, ["edge-a"], relay=True) as running:
        collection = collections(running.relay())["edge-a"]
        collection.add_objects(result.domain_bundles["edge-a"])
        [received] = poll(running.subscriber(), pinned(new_keys(["edge-a"])), ["edge-a"])
    sent = len(json.loads(result.domain_bundles["edge-a"])["objects"])
    assert received.reports == () and received.signatures == 0
    [refusal] = received.refused
    assert refusal.objects == sent
    assert refusal.reason.startswith(f"{sent} objects carry no signature of domain edge-a")


def test_an_existing_server_needs_a_collection_per_domain(result, server) -> None:
    key = new_keys(["edge-z"])["edge-z"]
    with pytest.raises(TaxiiError, match=r"no collection titled 'edge-z'.*edge-a"):
        publish(server.publisher("edge-a"), "edge-z", result.domain_bundles["edge-a"], key)
    publishers = {d: server.publisher(d) for d in ("edge-a", "edge-b", "core-c")}
    done = exchange(result.domain_bundles, publishers, server.subscriber())
    assert done.hygiene == result.hygiene


def test_a_relay_user_publishes_for_every_domain(result, tmp_path) -> None:
    with MedallionServer(tmp_path, ["edge-a", "edge-b", "core-c"], relay=True) as running:
        relay = running.relay()
        done = exchange(result.domain_bundles, dict.fromkeys(result.domain_bundles, relay), relay)
    assert done.hygiene == result.hygiene


def test_an_unreachable_server_is_named() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    access = TaxiiAccess(f"http://127.0.0.1:{port}/taxii2/", "u", "p")
    with pytest.raises(TaxiiError, match=f"127.0.0.1:{port}/taxii2/ cannot be reached"):
        collections(access)
