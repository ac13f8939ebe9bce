"""The attestation period against the chain's block time: a period of at least two
block intervals (in wall seconds, at the run's speed) goes ahead, a shorter one is
refused naming both, or lengthened when the scenario asks to adapt."""

from __future__ import annotations

from pathlib import Path

import pytest

from secmas.api.blocktime import fit_block_time
from secmas.api.errors import RunInputError
from secmas.ledger.blocks import BlockInterval, measure_interval
from secmas.ledger.connection import connect
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "ddos-6pop.yaml"
NODE = "http://127.0.0.1:8545"


def _on_node(block_time: str = "refuse", period: float = 10.0) -> Scenario:
    scenario = load_scenario(SCENARIO)
    security = scenario.security.model_validate(
        {
            **scenario.security.model_dump(),
            "ledger": NODE,
            "attestation": {
                **scenario.security.attestation.model_dump(),
                "period": period,
                "block_time": block_time,
            },
        }
    )
    return scenario.model_copy(update={"security": security})


def _blocks(seconds: float) -> object:
    return lambda url: BlockInterval(seconds, f"test blocks of {url}")


@pytest.mark.parametrize(("seconds", "speed"), [(2.0, 1.0), (5.0, 1.0), (0.0, 10.0), (0.5, 10.0)])
def test_a_period_of_two_block_intervals_goes_ahead(seconds: float, speed: float) -> None:
    scenario = _on_node()
    assert fit_block_time(scenario, speed, measure=_blocks(seconds)) is scenario


@pytest.mark.parametrize(("seconds", "speed"), [(12.0, 1.0), (2.0, 10.0)])
def test_a_shorter_period_is_refused_naming_both(seconds: float, speed: float) -> None:
    with pytest.raises(RunInputError) as caught:
        fit_block_time(_on_node(), speed, measure=_blocks(seconds))
    text = str(caught.value)
    assert "security.attestation.period 10 s" in text
    assert f"a block every {seconds:g} s" in text
    assert f"at least {2 * seconds * speed:g} s" in text


def test_a_scenario_that_adapts_gets_a_period_that_fits() -> None:
    fitted = fit_block_time(_on_node("adapt"), 1.0, measure=_blocks(12.0))
    assert fitted.security.attestation.period == 24.0
    assert fitted.security.attestation.block_time == "adapt"


def test_the_in_process_chain_is_not_checked() -> None:
    scenario = load_scenario(SCENARIO)
    assert fit_block_time(scenario, 10.0, measure=_blocks(60.0)) is scenario


def test_the_in_process_chain_mines_on_arrival() -> None:
    assert measure_interval(connect(None).chain).seconds == 0.0
