"""The plug-in example (examples/pulse-guard) works as the guide says: installed as a
distribution of its own, signed with `secmas wrap NAME --plugin`, its scenario meets its
acceptance on the simulator and on the emulated network, with the trust layer on.

The distribution is installed with `pip install --no-deps --target` into a folder of the
test's, put on the import path (and, through PYTHONPATH, on the agents' and the bots'),
so the shared environment is left as it was for the other tests. The runs are the
command line's, in subprocesses, with a SECaaS home and release store of the test's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from tests.network.emulation.conftest import needs_emulation
from tests.realtime import one_run_at_a_time

from secmas import plugins
from secmas.analytics.registry import fit_detector
from secmas.analytics.scoring import Fitting
from secmas.network.dataplane.traffic import attack_flows
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Attack

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pulse-guard"
SCENARIO = EXAMPLE / "scenarios" / "pulse-guard.yaml"
NAME = "secmas-pulse-guard"
PLUGINS = {
    "secmas.attacks": "pulse_flood",
    "secmas.detectors": "swing",
    "secmas.vnfs": "pulse_sentinel",
}
BOTS = 4


@dataclass(frozen=True)
class Installed:
    """The example installed for the test: where, and the environment that sees it."""

    site: Path
    env: dict[str, str]

    def secmas(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`secmas ARGS` as the guide's reader runs it, in this environment."""
        return subprocess.run(
            [sys.executable, "-m", "secmas", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """secmas-pulse-guard installed in a folder of the module's, not yet signed."""
    folder = tmp_path_factory.mktemp("example")
    site = folder / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--target", str(site), str(EXAMPLE)], check=True, capture_output=True)
    home = folder / "home"
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    env = os.environ | {
        "PYTHONPATH": path,
        "SECMAS_HOME": str(home),
        "SECMAS_RELEASES": str(home / "releases.db"),
        "COLUMNS": "120",
    }
    env.pop("SECMAS_TRUST_WORKING_TREE", None)
    sys.path.insert(0, str(site))
    plugins.rescan()
    yield Installed(site, env)
    sys.path.remove(str(site))
    plugins.rescan()


@pytest.fixture(scope="module")
def signed(example: Installed) -> Installed:
    """The example, after a secure run refused it unsigned, signed as the guide says."""
    refused = example.secmas("run", str(SCENARIO), "-o", str(example.site.parent / "refused"))
    assert refused.returncode == 1, refused.stdout[-2000:] + refused.stderr[-2000:]
    said = " ".join((refused.stdout + refused.stderr).split())
    assert "step 3-4" in said and f"`secmas wrap {NAME} --plugin`" in said
    wrapped = example.secmas("wrap", NAME, "--plugin")
    assert wrapped.returncode == 0, wrapped.stdout + wrapped.stderr
    return example


def test_the_registry_finds_each_kind_in_the_example(example: Installed) -> None:
    for group, name in PLUGINS.items():
        found = plugins.plugin(group, name)
        assert found.distribution == NAME, found.where()
        assert Path(found.load().__module__.replace(".", "/")).parts[0] == "pulse_guard"
    assert NAME in plugins.distributions()


def test_the_pulse_flood_bursts_from_the_same_bots(example: Installed) -> None:
    scenario = load_scenario(SCENARIO)
    attack = scenario.attack
    assert attack is not None
    flows = attack_flows(attack, "10.0.0.100", scenario.traffic.duration)
    windows = sorted({(flow.start, flow.stop) for flow in flows})
    assert windows == [(t, t + 2.0) for t in range(20, 70, 8)]  # 2 s every 8 s from 20 s
    for start, _ in windows:
        assert len({f.id.src_ip for f in flows if f.start == start}) == BOTS
    assert len({flow.id.src_ip for flow in flows}) == BOTS  # the same bots every burst
    with pytest.raises(ValidationError, match=r"burst \(8 s\) must be shorter than period"):
        Attack.model_validate(attack.model_dump() | {"parameters": {"period": 8, "burst": 8}})


def test_the_swing_detector_flags_pulses_and_not_normal_traffic(example: Installed) -> None:
    rng = np.random.default_rng(0)
    normal = 2.0 + rng.uniform(-0.1, 0.1, (200, 1))
    detector = fit_detector("swing", normal, ("rate",), Fitting(window=8))
    later = 2.0 + rng.uniform(-0.1, 0.1, (60, 1))
    assert detector.score(later).flags.mean() <= 0.05
    pulsing = later + 4.0 * (np.arange(60)[:, None] % 8 < 2)
    assert detector.score(pulsing).flags.all()


def run_report(installed: Installed, out: Path, *options: str) -> dict[str, Any]:
    """A secure run of the example's scenario; its report, once it exited 0."""
    done = installed.secmas("run", str(SCENARIO), "-o", str(out), *options, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "report.json").read_text())


def check_scrubbed(report: dict[str, Any], engine: str) -> None:
    """Acceptance met by the example's VNFs, with the trust layer on and the example's
    distribution measured by its signed reference."""
    assert report["engine"] == engine
    assert report["acceptance"]["passed"], report["acceptance"]
    trusted = report["trust"]["plugins"]["distributions"]
    assert [d["name"] for d in trusted if d["name"] == NAME] == [NAME]
    (auction,) = report["auctions"]
    assert (auction["goal_name"], auction["winner_vnf"]) == ("pulseScrubbed", "pulse_scrubber")
    doing = [(a["agent"], a["action"]) for a in report["actions"]]
    assert ("pop6", "pulsing") in doing  # the sentinel the scenario places on pop6
    blocked = [a["detail"] for a in report["actions"] if a["action"] == "blockFlow"]
    assert len(blocked) == BOTS and all(d.startswith("10.66.") for d in blocked)


def test_the_example_meets_its_acceptance_on_the_simulator(
    signed: Installed, tmp_path: Path
) -> None:
    check_scrubbed(run_report(signed, tmp_path / "simulated"), "simulator")


@needs_emulation
def test_the_example_meets_its_acceptance_on_the_emulated_network(
    signed: Installed, tmp_path: Path
) -> None:
    with one_run_at_a_time():
        report = run_report(signed, tmp_path / "emulated", "--dataplane", "emulated")
    check_scrubbed(report, "emulated")
