"""The scenario's `auction` section: the reputation weight of Eq. 3.1, off by
default, checked to lie in [0, 1] with a message that names the file, line and
field; the agents' Mailboxes take it from the scenario."""

from __future__ import annotations

from pathlib import Path

import pytest

from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.world import World
from secmas.cli.main import default_scenario_path
from secmas.scenario.loader import ScenarioError, load_scenario, parse_scenario

REFERENCE = default_scenario_path().read_text()


def test_off_by_default_so_eq_3_1_is_the_dissertations() -> None:
    scenario = parse_scenario(REFERENCE)
    assert scenario.auction.reputation_weight == 0.0
    agent = PoPAgent("pop1", World.simulated(scenario))
    assert agent.mailbox.endpoint.settings.reputation_weight == 0.0


def test_the_weight_reaches_every_agents_mailbox() -> None:
    scenario = parse_scenario(REFERENCE + "auction: {reputation_weight: 0.4}\n")
    world = World.simulated(scenario)
    assert world.auction.reputation_weight == 0.4
    assert world.auction.serialised == world.settings.serialised
    agent = PoPAgent("pop1", world)
    assert agent.mailbox.endpoint.settings.reputation_weight == 0.4
    assert agent.mailbox.initiator.appraisal.reputation is world.journal.reputation


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.5", "less than or equal to 1"),
        ("-0.2", "greater than or equal to 0"),
        ("heavy", "a valid number"),
    ],
)
def test_a_weight_outside_0_1_is_refused_naming_the_file_line_and_field(
    tmp_path: Path, value: str, message: str
) -> None:
    path = tmp_path / "weighed.yaml"
    path.write_text(REFERENCE + f"auction:\n  reputation_weight: {value}\n")
    line = len(REFERENCE.splitlines()) + 2
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    [problem] = caught.value.problems
    text = str(problem)
    assert str(path) in text and f":{line}" in text
    assert "auction.reputation_weight" in text and message in text


def test_an_unknown_auction_option_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"auction\.reputation"):
        parse_scenario(REFERENCE + "auction: {reputation: 0.4}\n")
