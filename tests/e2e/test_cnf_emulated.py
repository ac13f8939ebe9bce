"""The closed loop of `002_…` on a real CNF: nginx in an emulated network, real attacks,
a real Prometheus in the loop (shortened: the four-PoP line network, two attacks, a
short normal phase; the demo runs all five on the cnf-attack scenario).

Needs root, namespaces, Mininet, nftables, a cgroup hierarchy, and Debian's nginx,
stress-ng and prometheus; skipped otherwise with what is missing. Everything the run
started must be gone afterwards, and legitimate clients must never be caught.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.network.emulation.conftest import leftovers, line_scenario, needs_emulation

from secmas.network.emulation.cnfcgroup import CGROUP_ROOT, GROUP_PREFIX, unavailable
from secmas.pipeline.cnf_emulated import CNFRunSettings, run_cnf_emulated

TOOLS = {"nginx": "nginx-light", "stress-ng": "stress-ng", "prometheus": "prometheus"}
MISSING = [
    package
    for tool, package in TOOLS.items()
    if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()
]

pytestmark = [
    needs_emulation,
    pytest.mark.skipif(bool(MISSING), reason=f"Debian packages missing: {MISSING}"),
    pytest.mark.skipif(unavailable() is not None, reason=f"no CNF cgroup: {unavailable()}"),
]


def _groups() -> set[str]:
    return {p.name for p in CGROUP_ROOT.glob(f"*/{GROUP_PREFIX}*")} | {
        p.name for p in CGROUP_ROOT.glob(f"{GROUP_PREFIX}*")
    }


def test_the_loop_detects_and_mitigates_real_attacks_read_through_prometheus(
    tmp_path: Path,
) -> None:
    before, groups = set(leftovers()), _groups()
    scenario = line_scenario(cnfs=[{"id": "web", "host": "server", "pop": "C"}])
    settings = CNFRunSettings(
        attacks=("slowloris", "high_cpu"),
        normal_seconds=8.0,
        window=4,
        attack_max=5.0,
        settle=0.5,
        recovery_max=3.0,
    )
    result = run_cnf_emulated(scenario, tmp_path, settings, say=print)
    for reaction in result.reactions:
        assert reaction.detected is not None, reaction
        assert reaction.start <= reaction.detected <= reaction.stop
        assert reaction.effective is not None and reaction.effective >= reaction.detected
    slowloris, hog = result.reactions
    assert slowloris.mitigation == "guard" and hog.mitigation == "isolate"
    sources = set(result.episodes[0]["sources"])
    assert set(result.guard["offenders"]) == sources  # attackers, and no legitimate client
    assert result.requests["outside_attacks"]["success"] >= 0.95
    assert result.training["detector"] == "zscore"  # the default
    assert "normal phase" in result.training["trained_on"]
    # each window is judged once, for one attack: the per-attack counts add up to the run's
    assert len(result.per_attack) == 2
    assert sum(e.false_alarm_windows for e in result.per_attack) == (
        result.evaluation.false_alarm_windows
    )
    assert sum(e.normal_seconds for e in result.per_attack) == pytest.approx(
        result.evaluation.normal_seconds
    )
    waits = sum(r["false_alarm_windows"] for r in result.training["rebaselines"])
    assert waits <= result.evaluation.false_alarm_windows
    report = tmp_path / "cnf-report.json"
    assert report in result.files and (tmp_path / "cnf-metrics.csv").exists()
    reported = json.loads(report.read_text(encoding="utf-8"))["reactions"]
    assert [r["evaluation"]["f1"] for r in reported] == [e.f1 for e in result.per_attack]
    assert (tmp_path / "prometheus" / "data").is_dir()  # the run's own Prometheus stored it
    assert set(leftovers()) == before
    assert _groups() <= groups
