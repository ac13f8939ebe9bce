"""`--json` on every command that reports: stdout holds one JSON document and
nothing else (what is printed for people goes to stderr), a failed check still prints its
document and exits 1, bad input exits 2 with its error on stderr."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from secmas.cli.main import app, default_scenario_path
from secmas.policy.audit import ANCHORS_FILE, AUDIT_FILE, AuditLog

ROOT = Path(__file__).resolve().parents[2]
CTI = ROOT / "scenarios" / "cti"
MAPS = ["--sensitivity", str(CTI / "sensitivity.yaml"), "--necessity", str(CTI / "necessity.yaml")]
runner = CliRunner()


def document(*args: str | Path, code: int = 0) -> dict[str, Any]:
    """The one JSON document `secmas ARGS --json` prints on stdout (exit `code`)."""
    result = runner.invoke(app, [*map(str, args), "--json"], terminal_width=200)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return json.loads(result.stdout)


def audit_log(folder: Path, entries: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with AuditLog(folder / AUDIT_FILE) as log:
        for i in range(entries):
            log.append(float(i), "SSLAAssessor", "breach", f"InvalidSourcePackets > 0 ({i})")
    return folder / AUDIT_FILE


def test_audit_verify_json_says_intact_or_why_not(tmp_path: Path) -> None:
    log = audit_log(tmp_path / "run")
    chain = document("audit", "verify", log, "--no-anchors")
    assert chain["ok"] is True and chain["entries"] == 3 and chain["checked"] == 3
    assert chain["first_bad"] is None and "chain unbroken" in chain["message"]
    unanchored = document("audit", "verify", log, code=1)
    assert unanchored["ok"] is False and "no anchors file" in unanchored["message"]
    assert unanchored["anchors"]["total"] == 0
    lines = log.read_text().splitlines()
    lines[1] = lines[1].replace("(1)", "(one)")
    log.write_text("\n".join(lines) + "\n")
    tampered = document("audit", "verify", log, "--no-anchors", code=1)
    assert tampered["first_bad"] == {"line": 2, "seq": 1} and tampered["checked"] == 1
    assert "content altered" in tampered["message"]


def test_audit_verify_json_with_anchors_and_bad_input(tmp_path: Path) -> None:
    (tmp_path / ANCHORS_FILE).write_text("{}")
    result = runner.invoke(app, ["audit", "verify", str(tmp_path / "none.jsonl"), "--json"])
    assert result.exit_code == 2 and result.stdout == "" and "cannot read file" in result.stderr


def test_audit_show_json_lists_the_entries(tmp_path: Path) -> None:
    log = audit_log(tmp_path / "run", entries=4)
    shown = document("audit", "show", log, "--last", "2")
    assert shown["entries"] == 4 and shown["verified"] is False
    assert [e["seq"] for e in shown["shown"]] == [2, 3]
    assert shown["shown"][0]["explanation"] == "InvalidSourcePackets > 0 (2)"


def test_cti_share_json_holds_hygiene_and_the_bundle(tmp_path: Path) -> None:
    reports = [str(CTI / "edge-a.json"), str(CTI / "edge-b.csv"), str(CTI / "core-c.json")]
    bundle = tmp_path / "bundle.json"
    shared = document("cti", "share", *reports, *MAPS, "-o", bundle)
    assert shared["hygiene"]["edge-a"] == pytest.approx(0.738, abs=5e-4)
    assert "core-c" in shared["flagged"] and "edge-a" not in shared["flagged"]
    assert shared["threshold"] == 0.5
    assert shared["written"] == [str(bundle)] and "bundle" not in shared
    assert shared["objects"] == len(json.loads(bundle.read_text())["objects"])
    assert all(set(v) == {"included", "anonymised"} for v in shared["shared"].values())
    inline = document("cti", "share", reports[0], *MAPS)
    assert inline["bundle"]["type"] == "bundle" and inline["written"] == []


def test_from_topology_json_holds_the_scenario(tmp_path: Path) -> None:
    out = tmp_path / "abilene.yaml"
    made = document("scenario", "from-topology", "sndlib/abilene", "-o", out)
    assert made["file"] == str(out) and out.is_file()
    assert len(made["scenario"]["pops"]) == 12


def test_demo_json_is_the_verdict_and_the_files(tmp_path: Path) -> None:
    out = tmp_path / "run"
    ran = document("demo", "--insecure", "-o", out)
    assert ran["passed"] is True and ran["scenario"] == "ddos-6pop" and ran["why"] == []
    assert ran["acceptance"]["passed"] is True and ran["auctions"] > 0
    assert str(out / "report.json") in ran["files"] and ran["folder"] == str(out)


def test_sweep_dry_run_json(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: one\nscenarios: [{ring: 6}]\nseeds: [0, 1]\n")
    planned = document("sweep", spec, "--dry-run", "-o", tmp_path / "out")
    assert planned == {"runs": 2, "points": 1, "folder": str(tmp_path / "out")}


def test_deploy_and_bus_json_list_what_was_written(tmp_path: Path) -> None:
    scenario = default_scenario_path()
    deployed = document("deploy", "kubernetes", scenario, "-o", tmp_path / "k8s")
    assert deployed["objects"] > 10 and deployed["development_ledger"] is True
    assert all(Path(f).parent == tmp_path / "k8s" for f in deployed["files"])
    keys = document("bus", "keys", scenario, "-o", tmp_path / "keys")
    assert keys["nkeys"] == 7 and len(keys["seeds"]) == 7
    certs = document(
        "bus", "certs", "-o", tmp_path / "pki", "--server", "n1", "--host", "nats.example"
    )
    assert certs["ca"] == str(tmp_path / "pki" / "ca.pem") and set(certs["servers"]) == {"n1"}


def test_wrap_and_verify_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECMAS_HOME", str(tmp_path / "home"))
    module = tmp_path / "agent.py"
    module.write_text("def act(x):\n    return x + 1\n")
    manifest = tmp_path / "agent.json"
    wrapped = document("wrap", module, "-o", manifest)
    assert wrapped["kind"] == "python" and wrapped["manifest"] == str(manifest)
    checked = document("verify", module, manifest)
    assert checked["ok"] is True and checked["problems"] == []
    module.write_text("def act(x):\n    return x + 2\n")
    differs = document("verify", module, manifest, code=1)
    assert differs["ok"] is False and differs["problems"]


def metrics_csv(path: Path, rows: int, spike: bool = False) -> Path:
    t = np.arange(rows)
    cpu = 2 + np.sin(2 * np.pi * t / 20) + 0.01 * (t % 7)
    load = 1 + 0.5 * np.cos(2 * np.pi * t / 20)
    if spike:
        cpu[rows // 2 : rows // 2 + 5] += 20
    lines = ["cpu,load", *(f"{c:.4f},{v:.4f}" for c, v in zip(cpu, load, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_detect_fit_and_score_json(tmp_path: Path) -> None:
    normal = metrics_csv(tmp_path / "normal.csv", 300)
    model = tmp_path / "m.pt"
    fitted = document("detect", "fit", "--csv", normal, "-o", model, "--model", "zscore")
    assert fitted["model"] == str(model) and fitted["features"] == ["cpu", "load"]
    assert fitted["detector"]["detector"] == "zscore" and fitted["threshold"] > 0
    test = metrics_csv(tmp_path / "test.csv", 200, spike=True)
    scored = document("detect", "score", "--csv", test, "--model", model, "--top", "2")
    assert scored["flagged"] >= 1 and len(scored["alerts"]) <= 2
    assert scored["alerts"][0]["top_metrics"][0]["metric"] == "cpu"
    assert scored["truth"] is None and scored["written"] is None


def test_detect_dataset_json(tmp_path: Path) -> None:
    out = tmp_path / "d.csv"
    scenario = default_scenario_path("cnf-attack")
    made = document("detect", "dataset", scenario, "-o", out, "--seconds", "60")
    assert made["file"] == str(out) and made["rows"] == len(out.read_text().splitlines()) - 1
    assert made["anomalous"] == 0 and made["features"]


def test_dataplane_clean_json(monkeypatch: pytest.MonkeyPatch) -> None:
    from secmas.network.emulation import registry

    monkeypatch.setattr("os.geteuid", lambda: 0)
    dead = SimpleNamespace(prefix="sx1", processes=2, interfaces=["sx1-b0"])
    monkeypatch.setattr(registry, "clean_dead_runs", lambda: [dead])
    monkeypatch.setattr(registry, "live_runs", lambda: ["sx2"])
    cleaned = document("dataplane", "clean")
    assert cleaned == {
        "cleaned": [{"run": "sx1", "processes": 2, "interfaces": ["sx1-b0"]}],
        "live": ["sx2"],
    }


def test_json_keeps_stdout_for_the_document_alone(tmp_path: Path) -> None:
    """Progress and tables go to stderr: what a script parses is the document alone."""
    normal = metrics_csv(tmp_path / "normal.csv", 300)
    tiny = [
        "--model",
        "lstm-ae",
        "--window",
        "5",
        "--epochs",
        "2",
        "--hidden",
        "4",
        "--latent",
        "2",
    ]
    result = runner.invoke(
        app, ["detect", "fit", "--csv", str(normal), "-o", str(tmp_path / "m.pt"), *tiny, "--json"]
    )
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # the epochs and the threshold line went to stderr
    assert "epoch" in result.stderr and "wrote" in result.stderr


def test_a_run_without_legitimate_clients_is_not_measured_and_exits_1(tmp_path: Path) -> None:
    """A scenario with no legitimate clients: the legitimate-traffic figure cannot be
    measured, and a figure nobody could measure is not a pass (it once read null and
    passed)."""
    data = yaml.safe_load(default_scenario_path().read_text())
    data["traffic"]["duration"] = 40
    data["traffic"]["background"]["hosts"] = 0
    scenario = tmp_path / "no-clients.yaml"
    scenario.write_text(yaml.safe_dump(data))
    out = document("run", scenario, "--out", tmp_path / "run", "--insecure", code=1)
    assert out["passed"] is False and out["acceptance"]["legit_ratio"] is None
    assert out["acceptance"]["not_measured"] == {
        "legitimate traffic": "the scenario has no legitimate clients "
        "(traffic.background.hosts is 0)"
    }
    assert out["why"][0] == (
        "legitimate traffic not measured: the scenario has no legitimate clients "
        "(traffic.background.hosts is 0)"
    )
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["acceptance"]["passed"] is False
