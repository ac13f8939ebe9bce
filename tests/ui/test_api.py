"""The API of `secmas ui` over real run folders: what it answers, and bad requests."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from tests.security.test_audit_anchors import rewrite

from secmas.ui.app import create_app


def test_runs_are_listed_newest_first_with_unreadable_ones_and_why(client: TestClient) -> None:
    answer = client.get("/api/runs")
    assert answer.status_code == 200
    runs = {r["id"]: r for r in answer.json()}
    assert set(runs) == {
        "secure",
        "policy",
        "loop",
        "adaptive defence",
        "gabriel 200",
        "broken",
        "alien",
    }
    secure = runs["secure"]
    assert secure["readable"] and secure["scenario"] == "ddos-6pop"
    assert secure["secure"] and secure["passed"] and secure["auctions"] == 15
    assert secure["attestations"] > 0 and not secure["policy"] and not secure["audit"]
    assert runs["policy"]["policy"] and runs["policy"]["audit"]
    assert runs["loop"]["analytics"] and runs["loop"]["secure"] is False
    assert runs["loop"]["cnfs"] == ["web"] and runs["secure"]["cnfs"] == []
    adaptive = runs["adaptive defence"]
    assert adaptive["readable"] and adaptive["cti"] and adaptive["mtd"] and not secure["cti"]
    assert runs["gabriel 200"]["pops"] == 200
    assert not runs["broken"]["readable"]
    assert runs["broken"]["problem"].startswith("report.json: line 1:")
    assert not runs["alien"]["readable"] and "schema" in runs["alien"]["problem"]
    modified = [r["modified"] for r in answer.json()]
    assert modified == sorted(modified, reverse=True)


def test_a_run_has_its_topology_auctions_placements_and_attestation_plan(
    client: TestClient, reports: dict[str, dict[str, Any]]
) -> None:
    report = reports["secure"]
    run = client.get("/api/runs/secure").json()
    scenario = run["scenario"]
    assert scenario["id"] == "ddos-6pop" and scenario["source"] == "scenario.yaml"
    assert scenario["attack"]["start"] == 20.0
    topology = scenario["topology"]
    pops = [n for n in topology["nodes"] if n["kind"] == "pop"]
    assert [p["id"] for p in pops] == [f"pop{i}" for i in range(1, 7)]
    assert all(0 <= n["x"] <= 1 and 0 <= n["y"] <= 1 for n in topology["nodes"])
    assert topology["repository"] == "pop5"
    [watched] = [e for e in topology["edges"] if e["monitored"]]
    assert {watched["a"], watched["b"]} == {"pop6", "server"}
    assert {n["kind"] for n in topology["nodes"]} == {"pop", "host", "clients", "attackers"}

    # auctions exactly as report.json has them: bids with T, C, D, utility, the winner
    assert len(run["auctions"]) == len(report["auctions"]) == 15
    first = run["auctions"][0]
    assert first["goal"] == "linkRateLimited(pop6~server)" and first["winner"] == "pop5"
    assert first["bids"] == report["auctions"][0]["bids"]

    placements = run["placements"]
    assert [i["id"] for i in placements["initial"]] == ["link_monitor@pop6#0"]
    assert [(p["vnf"], p["pop"]) for p in placements["events"]] == [
        (p["vnf"], p["pop"]) for p in report["placements"]
    ]

    ledger = run["ledger"]
    trust = report["trust"]
    assert ledger["plan"] == trust["plan"] == [f"pop{i}" for i in range(1, 7)]
    assert ledger["attestations"] == trust["attestations"]
    assert ledger["attestations"][0]["verifier"] == "secaas"
    assert ledger["contracts"] == trust["contracts"]

    agents = {a["name"]: a for a in run["agents"]}
    assert set(agents) == set(trust["plan"])
    pop5 = agents["pop5"]
    assert pop5["status"] == "trusted" and pop5["key_epoch"] == 1
    assert pop5["attested"] and all(a["measured"] == "pop5" for a in pop5["attested"])
    assert pop5["auctions_won"] >= 10

    [numbers] = [[w["number"] for w in run["workflow"]]]
    assert numbers[0] == "0" and numbers[-1] == "13-14"


def test_alerts_come_with_explanations_from_every_source(client: TestClient) -> None:
    secure = client.get("/api/runs/secure/alerts").json()
    over = next(a for a in secure if a["title"] == "Link Monitor: link over-used")
    assert over["time"] == 23.0 and "pop6~server" in over["explanation"]
    assert any("limitLink" in action for action in over["actions"])
    assert any(a["title"] == "Classifier: malicious flows" for a in secure)

    policy = client.get("/api/runs/policy/alerts").json()
    breach = next(a for a in policy if a["source"] == "ssla")
    assert breach["severity"] == "critical" and breach["time"] == 61.0
    assert "BREACHED: InvalidSourcePackets" in breach["explanation"]
    assert sum("REJECT_PACKET" in action for action in breach["actions"]) == 6
    assert any(a["source"] == "ssla conflict" for a in policy)

    loop = client.get("/api/runs/loop/alerts").json()
    found = [a for a in loop if a["source"].startswith("closed loop")]
    assert found and all("against threshold" in a["explanation"] for a in found)
    assert any(a["actions"] for a in found)


def test_audit_log_is_verified_and_metrics_are_served(client: TestClient) -> None:
    audit = client.get("/api/runs/policy/audit").json()
    assert audit["intact"] and audit["anchors_confirmed"] >= 1
    assert [e["decision"] for e in audit["entries"]][:2] == ["conflict", "breach"]
    assert client.get("/api/runs/secure/audit").json() is None
    assert client.get("/api/runs/policy/ledger").json()["audit_anchors"]["anchored"]

    metrics = client.get("/api/runs/loop/metrics").json()
    assert len(metrics["traffic"]["t"]) == 100
    web = metrics["cnfs"]["web"]
    assert len(web["t"]) == 100 and "latency_p99" in web["values"]
    assert client.get("/api/runs/loop/ledger").json() is None


def test_a_log_rewritten_with_its_anchors_file_is_not_shown_intact(
    runs: Path, tmp_path: Path
) -> None:
    """The page trusts only the anchors the user's notary signed, as `audit verify` does."""
    copy = tmp_path / "runs"
    shutil.copytree(runs / "policy", copy / "policy")
    rewrite(copy / "policy", keep_signatures=True)
    audit = TestClient(create_app(copy)).get("/api/runs/policy/audit").json()
    assert not audit["intact"] and "notary" in audit["reason"], audit["reason"]


def test_every_part_matches_the_whole(client: TestClient) -> None:
    run = client.get("/api/runs/secure").json()
    assert client.get("/api/runs/secure/scenario").json() == run["scenario"]
    assert client.get("/api/runs/secure/workflow").json() == run["workflow"]
    assert client.get("/api/runs/secure/agents").json() == run["agents"]
    assert client.get("/api/runs/secure/auctions").json() == run["auctions"]
    assert client.get("/api/runs/secure/placements").json() == run["placements"]
    assert client.get("/api/runs/secure/ledger").json() == run["ledger"]
    assert client.get("/api/runs/secure/alerts").json() == run["alerts"]


def test_unknown_and_malformed_ids_are_404_or_422_with_a_message(client: TestClient) -> None:
    missing = client.get("/api/runs/nope")
    assert missing.status_code == 404 and "no run 'nope'" in missing.json()["detail"]
    assert client.get("/api/runs/nope/auctions").status_code == 404
    for name in ("a..b", "a%20b", "-x", "%C3%A9t%C3%A9", "x" * 255):  # ids, but no such run
        answer = client.get(f"/api/runs/{name}")
        assert answer.status_code == 404 and "no run" in answer.json()["detail"], name
    for bad in ("%00", "a%0Ab", "a%5Cb", "x" * 256):
        answer = client.get(f"/api/runs/{bad}")
        assert answer.status_code == 422, bad
        assert answer.json()["detail"][0]["loc"] == ["path", "run_id"]
    for traversal in ("..%2F..%2Fetc%2Fpasswd", "%2E%2E", "..%5Csecure", "secure%2F..%2F.."):
        answer = client.get(f"/api/runs/{traversal}")
        assert answer.status_code in (404, 422), traversal
        assert "root:" not in answer.text


def test_a_corrupt_report_is_422_with_the_reason(client: TestClient) -> None:
    broken = client.get("/api/runs/broken")
    assert broken.status_code == 422
    assert broken.json()["detail"].startswith("run 'broken' cannot be shown: report.json: line 1")
    alien = client.get("/api/runs/alien/alerts")
    assert alien.status_code == 422 and "schema" in alien.json()["detail"]


@given(st.text(min_size=1, max_size=40))
def test_no_run_id_gets_a_server_error(client: TestClient, run_id: str) -> None:
    answer = client.get("/api/runs/" + quote(run_id, safe=""))
    assert answer.status_code in (200, 404, 422), (run_id, answer.text)
    if answer.status_code == 200:  # an existing run, or a path the URL rules folded away
        assert run_id in {"secure", "policy", "loop"} or isinstance(answer.json(), list | dict)


def test_openapi_documents_the_data(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/auctions",
        "/api/runs/{run_id}/agents",
        "/api/runs/{run_id}/placements",
        "/api/runs/{run_id}/ledger",
        "/api/runs/{run_id}/alerts",
        "/api/runs/{run_id}/ssla",
        "/api/runs/{run_id}/cti",
        "/api/runs/{run_id}/mtd",
        "/api/live",
        "/api/live/events",
    ):
        assert path in paths, path
    bid = schema["components"]["schemas"]["Bid"]["properties"]
    assert {"T", "C", "D", "utility", "agent"} <= set(bid)
    move = schema["components"]["schemas"]["MoveView"]["properties"]
    assert {"predicted_downtime_s", "measured_downtime_s", "measured_total_s"} <= set(move)
    assert "404" in paths["/api/runs/{run_id}"]["get"]["responses"]
    assert client.get("/docs").status_code == 404  # Swagger UI would load a CDN


def test_the_page_is_one_self_contained_file(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for part in ('id="topology"', 'id="auctions"', 'id="attestation"', 'id="timeline"'):
        assert part in page.text
    external = re.findall(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", page.text)
    assert external == [] and "import(" not in page.text


def test_a_run_without_its_scenario_file_uses_the_embedded_one(runs: Path, tmp_path: Path) -> None:
    copy = tmp_path / "runs" / "copied"
    copy.mkdir(parents=True)
    shutil.copy(runs / "secure" / "report.json", copy / "report.json")
    stranger = tmp_path / "runs" / "stranger"
    stranger.mkdir()
    report = json.loads((runs / "secure" / "report.json").read_text())
    (stranger / "report.json").write_text(json.dumps(report | {"scenario": "not-shipped"}))
    client = TestClient(create_app(tmp_path / "runs"))
    scenario = client.get("/api/runs/copied/scenario").json()
    assert scenario["source"] == "embedded scenario ddos-6pop" and scenario["topology"]
    unknown = client.get("/api/runs/stranger").json()["scenario"]
    assert unknown["topology"] is None and unknown["source"] == "not found"
    assert TestClient(create_app(tmp_path / "none")).get("/api/runs").json() == []


def test_ssla_terms_over_time_with_the_breach_and_its_enforcements(
    client: TestClient, reports: dict[str, dict[str, Any]]
) -> None:
    policy = reports["policy"]["policy"]
    view = client.get("/api/runs/policy/ssla").json()
    assert view["problem"] is None and view["duration"] == reports["policy"]["simulated_seconds"]
    terms = {(t["ssla"], t["term"]): t for t in view["terms"]}
    assert len(terms) == len(policy["compliance"])
    isolation = terms[("ssla-web-isolated", "SliceIsolation")]
    assert isolation["state"] == "breached" and isolation["breached"] == 1
    [episode] = isolation["episodes"]
    assert (episode["start"], episode["end"], episode["offending"]) == (60.0, 61.0, 6)
    actions = [e["action"] for e in isolation["enforcements"]]
    assert actions.count("REJECT_PACKET") == 6
    others = [t for key, t in terms.items() if key != ("ssla-web-isolated", "SliceIsolation")]
    assert all(t["state"] == "compliant" and not t["episodes"] for t in others)
    assert client.get("/api/runs/policy").json()["ssla"] == view
    for empty in ("ssla", "cti", "mtd"):
        assert client.get(f"/api/runs/secure/{empty}").json() is None


def test_cti_hygiene_decisions_and_mtd_moves_of_the_adaptive_run(
    client: TestClient, runs: Path, reports: dict[str, dict[str, Any]]
) -> None:
    report = reports["adaptive defence"]
    cti = client.get("/api/runs/adaptive%20defence/cti").json()
    assert cti["problem"] is None and cti["threshold"] == report["cti"]["threshold"]
    hygiene = {d["domain"]: d["hygiene"] for d in cti["domains"]}
    assert hygiene == report["cti"]["hygiene"]
    barred = [d for d in cti["domains"] if not d["sensitive_goals"]]
    assert [d["pops"] for d in barred] == [["pop5"]] and "below" in barred[0]["reason"]
    counted = sum(n for f in cti["fields"] for n in f["counts"].values())
    assert counted == sum(d["count"] for d in report["cti"]["decisions"])
    with (runs / "adaptive defence" / "cti-decisions.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(cti["decisions"]) == len(table)
    for row, shown in zip(table, cti["decisions"], strict=True):
        assert "value" not in shown and shown["shared"] == row["shared"]
        assert (shown["decision"] == "include") == (row["value"] == row["shared"])

    mtd = client.get("/api/runs/adaptive%20defence/mtd").json()
    moves = report["mtd"]["moves"]
    assert [(m["cnf"], m["k"], m["outcome"]) for m in mtd["moves"]] == [
        (m["cnf"], m["k"], m["outcome"]) for m in moves
    ]
    assert [m["predicted_downtime_s"] for m in mtd["moves"]] == [
        m["predicted_downtime_s"] for m in moves
    ]
    assert any(m["outcome"] == "moved" for m in mtd["moves"])
    assert not mtd["measured"]  # the simulator predicts; only the emulated engine measures
    assert mtd["units"][0]["members"] == ["web", "api"]


def test_infinities_are_null_and_every_folder_is_listed(runs: Path, tmp_path: Path) -> None:
    report = (runs / "secure" / "report.json").read_text()
    data = json.loads(report)
    data["auctions"][0]["bids"][0]["T"] = "INF"
    data["wall_seconds"] = "NAN"
    text = json.dumps(data).replace('"INF"', "Infinity").replace('"NAN"', "NaN")
    for name in ("with infinity", "run [v2] ünïcode", "bad\nname"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(text)
    client = TestClient(create_app(tmp_path))
    listed = {r["id"]: r for r in client.get("/api/runs").json()}
    assert listed["with infinity"]["readable"] and listed["run [v2] ünïcode"]["readable"]
    assert listed["with infinity"]["wall_seconds"] is None
    assert not listed["bad\\nname"]["readable"] and "rename" in listed["bad\\nname"]["problem"]
    answer = client.get("/api/runs/" + quote("with infinity"))
    assert answer.status_code == 200
    json.loads(answer.text, parse_constant=lambda c: pytest.fail(f"{c} in the answer"))
    assert answer.json()["auctions"][0]["bids"][0]["T"] is None
    assert client.get("/api/runs/" + quote("run [v2] ünïcode", safe="")).status_code == 200
