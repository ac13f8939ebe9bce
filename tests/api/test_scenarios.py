"""`--tamper POP` is planned only where attestation can catch it within the run: the
agent's next mutual attestation step after the patch must come before the run ends."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.api.errors import RunInputError
from secmas.api.scenarios import TAMPER_AT, attested_after, resolve, tamper_plan
from secmas.scenario.model import Scenario


def with_attestation(name: str, **attestation: object) -> Scenario:
    scenario = resolve(name).scenario
    security = scenario.security.model_copy(
        update={"attestation": scenario.security.attestation.model_copy(update=attestation)}
    )
    return scenario.model_copy(update={"security": security})


def test_steps_measure_the_plan_in_order_one_period_apart() -> None:
    # as tests/e2e/test_tamper_all.py sees on the simulator: pop3 failed at 30 s
    scenario = resolve("ddos-6pop").scenario
    assert [attested_after(scenario, p.id, TAMPER_AT) for p in scenario.pops] == [
        10.0,
        20.0,
        30.0,
        40.0,
        50.0,
        60.0,
    ]
    # one after the patch: pop1 at 3 s is before it, so its next is a round later
    emulated = resolve("adaptive-emulated").scenario
    assert attested_after(emulated, "pop1", TAMPER_AT) == 21.0
    assert attested_after(emulated, "pop2", TAMPER_AT) == 6.0


@given(
    period=st.floats(min_value=0.5, max_value=50),
    at=st.floats(min_value=0, max_value=500),
    index=st.integers(min_value=0, max_value=5),
)
def test_the_step_found_is_the_first_on_or_after_the_patch(
    period: float, at: float, index: int
) -> None:
    scenario = with_attestation("ddos-6pop", period=period)
    pop = scenario.pops[index].id
    caught = attested_after(scenario, pop, at)
    assert caught is not None and caught >= at
    step = round(caught / period)  # the k-th step measures the plan's (k-1 mod 6)-th agent
    assert step <= 6 or caught - 6 * period < at  # a round earlier measured it before the patch
    assert scenario.pops[(step - 1) % 6].id == pop


@pytest.mark.parametrize(
    ("scenario", "pop", "words"),
    [
        (
            with_attestation("adaptive-emulated", period=10),
            "pop4",
            "'pop4': patched at 5 s, its agent is next attested at 40 s, after the run's 28 s",
        ),
        (
            with_attestation("ddos-emulated", plan=("pop1", "pop2")),
            "pop3",
            "'pop3': not in security.attestation.plan",
        ),
    ],
)
def test_a_tamper_nothing_would_catch_within_the_run_is_refused(
    scenario: Scenario, pop: str, words: str
) -> None:
    with pytest.raises(RunInputError) as refused:
        tamper_plan(scenario, pop)
    assert refused.value.option == "tamper" and words in str(refused.value)


@pytest.mark.parametrize("name", ["adaptive-emulated", "ddos-emulated", "ddos-6pop"])
def test_every_pop_of_the_shipped_scenarios_may_be_tampered(name: str) -> None:
    scenario = resolve(name).scenario
    for pop in scenario.pops:
        assert tamper_plan(scenario, pop.id) == {pop.id: TAMPER_AT}
