"""Attacks on the TAXII 2.1 exchange of CTI (004_… Section 4.1) by someone who can reach
the run's medallion server on loopback but holds none of its credentials, and by a peer
that publishes content a strict subscriber must not take in. Each attempt must fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from secmas.cti.errors import CTIInputError
from secmas.cti.share import share
from secmas.cti.signing import new_keys, pinned
from secmas.cti.taxii import MedallionServer, TaxiiAccess, TaxiiError, collections, poll, publish

CTI = Path(__file__).resolve().parents[2] / "scenarios" / "cti"
MAPS = (CTI / "sensitivity.yaml", CTI / "necessity.yaml")
TAXII = {"Accept": "application/taxii+json;version=2.1"}


@pytest.fixture(scope="module")
def bundle() -> str:
    return share([CTI / "edge-a.json"], *MAPS, key=b"k").domain_bundles["edge-a"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MedallionServer]:
    with MedallionServer(tmp_path, ["edge-a"]) as running:
        yield running


def test_without_credentials_nothing_is_read(server) -> None:
    answer = requests.get(server.url, headers=TAXII, timeout=5)
    assert answer.status_code == 401
    with pytest.raises(TaxiiError, match="HTTP 401: wrong user or password"):
        collections(TaxiiAccess(server.url, "subscriber", "guess"))


def test_a_forger_without_credentials_cannot_publish(server, bundle) -> None:
    [collection] = collections(server.subscriber()).values()
    url = f"{server.url.removesuffix('taxii2/')}cti/collections/{collection.id}/objects/"
    answer = requests.post(
        url,
        data=bundle,
        auth=("publisher-edge-a", "guess"),
        headers={**TAXII, "Content-Type": "application/taxii+json;version=2.1"},
        timeout=5,
    )
    assert answer.status_code == 401
    [received] = poll(server.subscriber(), pinned(new_keys(["edge-a"])), ["edge-a"])
    assert received.objects == 0


def test_custom_content_published_by_a_peer_is_refused_by_the_subscriber(server, bundle) -> None:
    forged = json.loads(bundle)
    for obj in forged["objects"]:
        if obj["type"] == "vulnerability":
            obj["x_exploit_url"] = "http://attacker.example/payload"
    keys = new_keys(["edge-a"])
    publish(server.publisher("edge-a"), "edge-a", json.dumps(forged), keys["edge-a"])
    with pytest.raises(CTIInputError, match=r"collection 'edge-a'.*not valid STIX 2\.1"):
        poll(server.subscriber(), pinned(keys), ["edge-a"])
