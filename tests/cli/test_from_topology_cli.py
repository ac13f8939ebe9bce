"""`secmas scenario from-topology`: the attack and PoP options reach the scenario, bad
values are refused with a message and exit 2, and the options hit the strategy's
load-balancer branch on a real topology."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from secmas.cli.main import app
from secmas.scenario.loader import load_scenario

runner = CliRunner()


def generate(tmp_path: Path, *options: str) -> Path:
    out = tmp_path / "generated.yaml"
    result = runner.invoke(
        app, ["scenario", "from-topology", "sndlib/abilene", "-o", str(out), *options]
    )
    assert result.exit_code == 0, result.output
    return out


def test_attack_options_shape_the_attack(tmp_path: Path) -> None:
    out = generate(
        tmp_path,
        "--attack-kind", "http_flood",
        "--attackers", "12",
        "--attack-rate", "0.25",
        "--attack-ports", "80",
        "--attack-start", "30",
        "--attack-stop", "150",
        "--attacker-pops", "2",
        "--attack-spread", "far",
    )  # fmt: skip
    attack = load_scenario(out).attack
    assert attack is not None
    assert (attack.kind, attack.attackers, attack.rate, attack.ports) == (
        "http_flood",
        12,
        0.25,
        (80,),
    )
    assert (attack.start, attack.stop, len(attack.attach)) == (30, 150, 2)


def test_pop_options_shape_the_resources(tmp_path: Path) -> None:
    scenario = load_scenario(
        generate(tmp_path, "--pop-flavour", "large", "--server-bandwidth", "30")
    )
    assert {(p.cpu, p.memory, p.disk) for p in scenario.pops} == {(16, 32, 500)}
    assert [link.bandwidth for link in scenario.links if "server" in (link.a, link.b)] == [30]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--attack-kind", "smurf"], "--attack-kind must be one of"),
        (["--attack-spread", "middle"], "--attack-spread must be one of"),
        (["--pop-flavour", "huge"], "--pop-flavour must be one of"),
        (["--attack-ports", "80,http"], "comma-separated numbers"),
        (["--attack-ports", "0"], "1..65535"),
        (["--attack-start", "50", "--attack-stop", "40"], "not after start"),
        (["--attackers", "0"], "--attackers"),
        (["--server-bandwidth", "0"], "--server-bandwidth"),
    ],
)
def test_bad_shapes_exit_2_with_a_message(tmp_path: Path, options: list[str], message: str) -> None:
    out = tmp_path / "x.yaml"
    result = runner.invoke(
        app, ["scenario", "from-topology", "sndlib/abilene", "-o", str(out), *options]
    )
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_small_pops_and_a_big_attack_make_the_load_balancer_split(tmp_path: Path) -> None:
    """No small PoP fits the classifier the 16 attackers need, so the traffic is split and
    each half goes to a classifier on its own PoP; the attack is still mitigated."""
    scenario = generate(tmp_path, "--seed", "3", "--pop-flavour", "small", "--attackers", "16")
    run = tmp_path / "run"
    result = runner.invoke(app, ["run", str(scenario), "--insecure", "--out", str(run)])
    assert result.exit_code == 0, result.output
    report = json.loads((run / "report.json").read_text())
    actions = [(a["agent"], a["action"], a["detail"]) for a in report["actions"]]
    assert any(action == "splitTrafficIP" for _, action, _ in actions)
    classifiers = {agent for agent, action, _ in actions if action == "classifyFlows"}
    assert len(classifiers) == 2
    blocked = {detail.split(">")[0] for _, action, detail in actions if action == "blockFlow"}
    assert len(blocked) == 16
    assert report["acceptance"]["passed"], report["acceptance"]
