"""`security.attestation.random`: the unannounced measurements' rate or mean interval,
on by default, off with null; a bad value is named with its file, line and field."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.cli.main import default_scenario_path
from secmas.scenario.loader import ScenarioError, parse_scenario
from secmas.scenario.model import Attestation, RandomMeasurements

REFERENCE = default_scenario_path().read_text()
BLOCK = "    challenge_timeout: 5\n"


def with_random(value: str) -> str:
    """The reference scenario with `random: <value>` in its attestation block."""
    assert BLOCK in REFERENCE
    return REFERENCE.replace(BLOCK, f"{BLOCK}    random: {value}\n")


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "s.yaml")
    return [str(p) for p in info.value.problems]


def line_of_random(text: str) -> int:
    return next(i for i, t in enumerate(text.splitlines(), 1) if t.strip().startswith("random:"))


def test_on_by_default_and_off_with_null() -> None:
    assert parse_scenario(REFERENCE).security.attestation.random == RandomMeasurements(
        mean_interval=60.0
    )
    assert parse_scenario(with_random("null")).security.attestation.random is None


def test_a_rate_or_a_mean_interval() -> None:
    rate = parse_scenario(with_random("{rate: 0.05}")).security.attestation.random
    interval = parse_scenario(with_random("{mean_interval: 20}")).security.attestation.random
    assert rate is not None and interval is not None
    assert rate.per_second == interval.per_second == pytest.approx(0.05)
    assert rate.mean_seconds == interval.mean_seconds == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("value", "field", "says"),
    [
        ("{}", "random", "give rate (measurements per second) or mean_interval"),
        ("{rate: 1, mean_interval: 1}", "random", "one of the two"),
        ("{rate: 0}", "random.rate", "greater than 0"),
        ("{mean_interval: -5}", "random.mean_interval", "greater than 0"),
        ("{rate: .inf}", "random.rate", "finite number"),
        ("{rate: true}", "random.rate", "not the boolean true"),
        ("{rate: often}", "random.rate", "valid number"),
        ("{every: 5}", "random.every", "Extra inputs are not permitted"),
        ("yes", "random", "valid dictionary"),
    ],
)
def test_a_bad_value_is_named_with_file_line_and_field(value: str, field: str, says: str) -> None:
    text = with_random(value)
    [msg] = problems(text)
    assert msg.startswith(f"s.yaml:{line_of_random(text)}: security.attestation.{field}:"), msg
    assert says in msg


def test_more_often_than_the_simulator_steps_is_refused() -> None:
    [msg] = problems(with_random("{mean_interval: 0.5}"))
    assert "security.attestation.random: a mean interval of 0.5 s is shorter than " in msg
    assert "traffic.step (1 s)" in msg


@given(st.floats(1e-6, 1e6, allow_nan=False) | st.floats(-1e6, 0.0))
def test_any_rate_parses_to_its_own_inverse_or_is_refused(rate: float) -> None:
    if rate <= 0:
        with pytest.raises(ValueError, match="greater than 0"):
            RandomMeasurements(rate=rate)
        return
    random = RandomMeasurements(rate=rate)
    assert math.isclose(random.per_second * random.mean_seconds, 1.0)
    assert Attestation(random={"rate": rate}).random == random


@given(st.text(max_size=20))
def test_any_text_as_the_block_never_crashes(value: str) -> None:
    text = with_random(repr(value))
    try:
        parse_scenario(text, "s.yaml")
    except ScenarioError as error:
        assert all(str(p).startswith("s.yaml:") for p in error.problems)
