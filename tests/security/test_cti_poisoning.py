"""CTI poisoning: a peer domain that lowers another domain's hygiene, a publisher
that lowers its own risk values, and bundles that are not what the domain signed. Each is
tried on a real medallion server of the run's kind; each must be refused, and the hygiene
of a domain must stay what its own, honest, signed CTI implies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from secmas.cti.hygiene import exclusions
from secmas.cti.maps import load_field_map
from secmas.cti.reports import load_report
from secmas.cti.share import ShareResult, share, share_reports
from secmas.cti.signing import new_keys, pinned, sign_bundle
from secmas.cti.taxii import MedallionServer, collections, exchange, poll

CTI = Path(__file__).resolve().parents[2] / "scenarios" / "cti"
DOMAINS = ["edge-a", "edge-b", "core-c"]
REPORTS = [CTI / name for name in ("edge-a.json", "edge-b.csv", "core-c.json")]
MAPS = (CTI / "sensitivity.yaml", CTI / "necessity.yaml")
POPS = {"pop1": "edge-a", "pop3": "edge-b", "pop5": "core-c"}
THRESHOLD = 0.3
"""The adaptive-defence scenario's hygiene threshold."""
TAXII = {
    "Accept": "application/taxii+json;version=2.1",
    "Content-Type": "application/taxii+json;version=2.1",
}


@pytest.fixture(scope="module")
def honest() -> ShareResult:
    return share(REPORTS, *MAPS, key=b"honest publisher key")


@pytest.fixture(scope="module")
def claims_edge_b() -> str:
    """edge-a's bundle with a report that claims edge-b: core-c's poor scan, renamed."""
    edge_a, core_c = load_report(REPORTS[0]), load_report(REPORTS[2])
    maps = load_field_map(MAPS[0], "sensitivity"), load_field_map(MAPS[1], "necessity")
    forged = share_reports([edge_a, replace(core_c, domain="edge-b")], *maps, key=b"peer")
    return forged.bundle_json


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MedallionServer]:
    with MedallionServer(tmp_path, DOMAINS) as running:
        yield running


def _exchange(server: MedallionServer, bundles: dict[str, str]):
    return exchange(bundles, {d: server.publisher(d) for d in bundles}, server.subscriber())


def test_the_honest_exchange_keeps_edge_b_in(server, honest) -> None:
    done = _exchange(server, honest.domain_bundles)
    assert done.hygiene["edge-b"] == pytest.approx(0.361, abs=1e-3)
    assert "pop3" not in exclusions(done.hygiene, POPS, THRESHOLD)


def test_a_peer_cannot_write_to_edge_b_collection(server, claims_edge_b) -> None:
    edge_b = collections(server.subscriber())["edge-b"]
    url = f"{server.url.removesuffix('taxii2/')}cti/collections/{edge_b.id}/objects/"
    peer = server.publisher("edge-a")
    answer = requests.post(
        url, data=claims_edge_b, auth=(peer.user, peer.password), headers=TAXII, timeout=5
    )
    assert answer.status_code == 403
    [received] = poll(server.subscriber(), pinned(new_keys(["edge-b"])), ["edge-b"])
    assert received.objects == 0


def test_a_peer_claiming_edge_b_in_its_own_collection_is_refused(
    server, honest, claims_edge_b
) -> None:
    bundles = {**honest.domain_bundles, "edge-a": claims_edge_b}
    done = _exchange(server, bundles)
    assert done.hygiene["edge-b"] == pytest.approx(honest.hygiene["edge-b"], abs=1e-9)
    assert "pop3" not in exclusions(done.hygiene, POPS, THRESHOLD)
    [edge_a] = [r for r in done.received if r.title == "edge-a"]
    assert edge_a.reports == ()
    [refusal] = edge_a.refused
    assert "claims domain edge-b" in refusal.reason
    summary = json.dumps(done.summary())
    assert "claims domain edge-b" in summary


def test_a_publisher_that_lowers_its_risk_values_gets_the_recomputed_risk(server, honest) -> None:
    lowered = json.loads(honest.domain_bundles["edge-b"])
    for obj in lowered["objects"]:
        for props in obj.get("extensions", {}).values():
            if "risk" in props:
                props["risk"] = 0.0
    bundles = {**honest.domain_bundles, "edge-b": json.dumps(lowered)}
    done = _exchange(server, bundles)
    assert done.hygiene["edge-b"] == pytest.approx(honest.hygiene["edge-b"], abs=1e-9)
    assert done.hygiene == pytest.approx(honest.hygiene, abs=1e-9)


@pytest.mark.parametrize("how", ["wrong key", "tampered after signing"])
def test_a_bundle_not_signed_by_the_collection_domain_is_refused(server, honest, how) -> None:
    keys = new_keys(DOMAINS)
    text = honest.domain_bundles["edge-b"]
    if how == "wrong key":
        signed = sign_bundle(text, replace(keys["edge-a"], domain="edge-b"))
    else:
        signed_bundle = json.loads(sign_bundle(text, keys["edge-b"]))
        for obj in signed_bundle["objects"]:
            for props in obj.get("extensions", {}).values():
                if "risk" in props:
                    props["risk"] = 0.0
        signed = json.dumps(signed_bundle)
    edge_b = collections(server.subscriber())["edge-b"]
    url = f"{server.url.removesuffix('taxii2/')}cti/collections/{edge_b.id}/objects/"
    owner = server.publisher("edge-b")
    answer = requests.post(
        url, data=signed, auth=(owner.user, owner.password), headers=TAXII, timeout=5
    )
    assert answer.status_code == 202
    [received] = poll(server.subscriber(), pinned(keys), ["edge-b"])
    assert received.reports == ()
    assert received.refused and "signature" in received.refused[0].reason
    assert received.refused[0].objects == len(json.loads(text)["objects"])
