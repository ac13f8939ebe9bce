"""What a valid scenario will likely not do as its author meant: warnings with the field
and line, computed from the scenario alone and checked here against hand-computed figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.cli.main import default_scenario_path
from secmas.scenario.caveats import (
    LinkLoad,
    least_between_pops,
    least_values,
    monitored_load,
    run_warnings,
)
from secmas.scenario.model import Measure, Scenario
from secmas.scenario.validation import load_with_warnings

REFERENCE = default_scenario_path().read_text()
WEAK_ATTACK = ("  attackers: 8\n  rate: 0.5\n", "  attackers: 8\n  rate: 0.1\n")
KEEP = 0.995
"""What a link of the reference scenario's backbone (0.5 % loss) lets through."""
LEGIT = 1.93 * KEEP**2 + 0.24 * KEEP
"""The clients' 2.17 MB/s as they reach pop6: behind pop1, pop2 and pop3 (0.91 + 0.26 +
0.76 MB/s: 5 viewers at 0.15 and 8 + 13 + 8 HTTP clients at 0.02, 4 viewers at pop3) two
backbone links away, behind pop4 (12 HTTP clients) one."""


def scenario(text: str = REFERENCE, **changes: Any) -> Scenario:
    """A scenario from YAML text, top-level fields replaced."""
    return Scenario.model_validate(yaml.safe_load(text) | changes)


def edited(*changes: tuple[str, str]) -> str:
    """The reference scenario with the first occurrence of each (old, new) replaced."""
    text = REFERENCE
    for old, new in changes:
        assert old in text
        text = text.replace(old, new, 1)
    return text


def test_the_monitored_link_carries_the_attack_and_the_clients_past_their_losses() -> None:
    # every attacker (pop1, pop2, pop3) is two backbone links from pop6
    assert monitored_load(scenario()) == LinkLoad(
        ("pop6", "server"), pytest.approx(8 * 0.5 * KEEP**2), pytest.approx(LEGIT)
    )
    weak = monitored_load(scenario(edited(WEAK_ATTACK)))
    assert weak is not None and weak.total == pytest.approx(0.8 * KEEP**2 + LEGIT)


def test_a_full_link_shares_its_capacity_in_proportion() -> None:
    data = yaml.safe_load(REFERENCE)
    data["links"][-1]["bandwidth"] = 3  # pop6–server
    load = monitored_load(Scenario.model_validate(data))
    assert load is not None and load.total == pytest.approx(3.0)
    assert load.attack / load.legit == pytest.approx(4 * KEEP**2 / LEGIT)


def test_a_monitored_link_no_route_crosses_carries_nothing() -> None:
    data = yaml.safe_load(REFERENCE)
    data["defence"]["monitor"]["link"] = ["pop1", "pop2"]
    assert monitored_load(Scenario.model_validate(data)) == LinkLoad(("pop1", "pop2"), 0.0, 0.0)


def test_without_an_attack_or_a_defence_nothing_is_monitored() -> None:
    data = yaml.safe_load(REFERENCE)
    del data["attack"]
    assert monitored_load(Scenario.model_validate(data)) is None


def test_an_attack_below_the_link_monitors_threshold_is_a_warning() -> None:
    total = 0.8 * KEEP**2 + LEGIT
    assert run_warnings(scenario(edited(WEAK_ATTACK))) == [
        (
            ("attack",),
            f"the monitored link pop6–server carries about {total:.2f} MB/s with the attack "
            f"on ({0.8 * KEEP**2:.2f} MB/s of it the attack's), below the Link Monitor's 4 MB/s "
            "threshold (defence.monitor.threshold): no auction will start",
        )
    ]
    assert run_warnings(scenario()) == []


@pytest.mark.parametrize("name", ["cnf-attack", "spoofed-injection"])
def test_a_weak_attack_another_defence_sees_is_no_warning(name: str) -> None:
    """The closed loop (cnf-attack) and the slice's intents (spoofed-injection) act on
    attacks the Link Monitor is meant not to see."""
    assert run_warnings(scenario(default_scenario_path(name).read_text())) == []


def test_least_values_accumulate_along_the_best_path() -> None:
    reference = scenario()
    loss = least_values(reference, Measure.LOSS, "pop6")
    assert loss["pop4"] == pytest.approx(0.5)
    assert loss["pop1"] == pytest.approx(100 * (1 - KEEP**2))
    assert loss["server"] == 0.0
    assert least_values(reference, Measure.LATENCY, "pop6")["pop1"] == 21.0  # via pop5
    assert least_values(reference, Measure.HOPS, "pop6")["pop3"] == 2.0


@pytest.mark.parametrize(
    ("constraint", "says"),
    [
        (
            '{measure: P, op: "<=", value: 0}',
            "P <= 0 holds on no path between two PoPs (the least lossy loses 0.5 %)",
        ),
        ('{measure: P, op: "<=", value: 1e-9}', "P <= 1e-09 holds on no path between two PoPs"),
        ('{measure: P, op: "<", value: 0.4}', "P < 0.4 holds on no path between two PoPs"),
        (
            '{measure: L, op: "<=", value: 5}',
            "L <= 5 holds on no path between two PoPs (the quickest takes 8 ms)",
        ),
        (
            '{measure: H, op: "<", value: 1}',
            "H < 1 holds on no path between two PoPs (the shortest has 1 hop)",
        ),
    ],
)
def test_a_constraint_no_path_between_pops_meets_is_a_warning(constraint: str, says: str) -> None:
    text = edited(
        ('[{measure: P, op: "<=", value: 8}, {measure: L', f"[{constraint}, {{measure: L")
    )
    [(at, message)] = run_warnings(scenario(text))
    assert at == ("goals", 0, "constraints", 0)
    assert message.startswith(says)
    assert message.endswith(": only the auctioneer's own PoP can bid for linkRateLimited")


@pytest.mark.parametrize(
    "constraint",
    [
        '{measure: P, op: "<=", value: 0.5}',
        '{measure: P, op: ">=", value: 50}',
        '{measure: L, op: "==", value: 8}',
        '{measure: H, op: "<=", value: 1}',
        '{measure: B, op: ">=", value: 1000}',
    ],
)
def test_a_constraint_some_path_between_pops_may_meet_is_no_warning(constraint: str) -> None:
    text = edited(
        ('[{measure: P, op: "<=", value: 8}, {measure: L', f"[{constraint}, {{measure: L")
    )
    assert run_warnings(scenario(text)) == []


def test_warnings_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        edited(
            WEAK_ATTACK,
            (
                '[{measure: P, op: "<=", value: 8}, {measure: L',
                '[{measure: P, op: "<=", value: 0}, {measure: L',
            ),
        )
    )
    loaded, warnings = load_with_warnings(path)
    assert loaded.id == "ddos-6pop"
    goal = next(i for i, t in enumerate(REFERENCE.splitlines(), 1) if "value: 8}, {measure: L" in t)
    attack = next(i for i, t in enumerate(REFERENCE.splitlines(), 1) if t == "attack:")
    rendered = [str(w) for w in warnings]
    assert rendered[0].startswith(
        f"{path}:{goal}: goals[0].constraints[0]: P <= 0 holds on no path between two PoPs"
    )
    assert rendered[-1].startswith(f"{path}:{attack + 1}: attack: the monitored link pop6–server")


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 6),
    st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 7), st.sampled_from([0.0, 0.5, 2.0])),
        max_size=14,
    ),
)
def test_the_least_between_pops_is_the_least_of_every_pair(
    count: int, links: list[tuple[int, int, float]]
) -> None:
    """One Dijkstra from all PoPs at once finds what one from each PoP finds."""
    data = yaml.safe_load(REFERENCE)
    nodes = [f"p{i}" for i in range(count)] + ["s0", "s1"]
    data["pops"] = [{"id": n, "cpu": 4, "memory": 6, "disk": 100} for n in nodes[:count]]
    data["switches"] = [{"id": "s0"}, {"id": "s1"}]
    pairs = {
        frozenset((nodes[a % len(nodes)], nodes[b % len(nodes)])): loss
        for a, b, loss in links
        if a % len(nodes) != b % len(nodes)
    }
    data["links"] = [
        {"a": a, "b": b, "bandwidth": 5, "latency": 2 * loss, "loss": loss}
        for (a, b), loss in ((sorted(pair), loss) for pair, loss in pairs.items())
    ]
    data["repository"] = {"attach": "p0"}
    for key in ("hosts", "traffic", "attack", "defence", "cnfs", "slices", "placements"):
        data.pop(key, None)
    del data["security"]["attestation"]["plan"]
    data.pop("service", None)
    loaded = Scenario.model_validate(data)
    pops = set(nodes[:count])
    for measure in (Measure.LATENCY, Measure.LOSS, Measure.HOPS):
        every = [
            value
            for pop in pops
            for node, value in least_values(loaded, measure, pop).items()
            if node in pops and node != pop
        ]
        assert least_between_pops(loaded, measure) == pytest.approx(min(every, default=math.inf))
