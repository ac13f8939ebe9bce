"""Each switch rule's effect on the two-branch scenario, with the numbers worked by hand.

Without jitter the attackers behind `a` offer 2 × 4 = 8 MB/s and the four video clients
behind `b` offer 4 × 0.5 = 2 MB/s; the link c→server carries 5 MB/s.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from secmas.network.dataplane import (
    DataPlane,
    FlowBlock,
    IpRateLimit,
    LinkRateLimit,
    TrafficSplit,
    split_part,
)
from secmas.scenario.model import Scenario

pytestmark = pytest.mark.usefixtures("steady")

SERVER = "10.0.0.100"
ATTACKER_1, ATTACKER_2 = "10.66.0.1", "10.66.0.2"


def delivered(plane: DataPlane) -> tuple[float, float]:
    """(legit, attack) MB/s that reached the server in the last step."""
    last = plane.server_series()[-1]
    return last.legit, last.attack


def test_overfull_link_shares_capacity_in_proportion(merge: Callable[..., Scenario]) -> None:
    plane = DataPlane(merge())
    plane.step()
    # 10 MB/s offered into 5 MB/s: every flow keeps half.
    assert delivered(plane) == pytest.approx((1.0, 4.0))
    assert plane.rate("a", "c") == pytest.approx(8.0)
    assert plane.rate("b", "c") == pytest.approx(2.0)
    assert plane.rate("c", "server") == pytest.approx(5.0)
    assert plane.rate("server", "c") == 0.0
    assert plane.load("server", "c") == pytest.approx(5.0)


def test_link_loss_thins_what_the_link_delivers(merge: Callable[..., Scenario]) -> None:
    plane = DataPlane(merge(loss=10.0))
    plane.step()
    # 5 MB/s carried on c→server, 10 % of it lost: 0.9 × (1, 4).
    assert plane.rate("c", "server") == pytest.approx(5.0)
    assert delivered(plane) == pytest.approx((0.9, 3.6))


def test_link_limit_upstream_frees_the_shared_link(merge: Callable[..., Scenario]) -> None:
    plane = DataPlane(merge())
    plane.add_rule(LinkRateLimit("a", "c", 2.0))
    plane.step()
    # a→c capped at 2 (1 per attacker); c→server then carries 2 + 2 = 4 < 5, so legit is whole.
    assert plane.rate("a", "c") == pytest.approx(2.0)
    assert delivered(plane) == pytest.approx((2.0, 2.0))


def test_link_limit_in_the_other_direction_has_no_effect(
    merge: Callable[..., Scenario],
) -> None:
    plane = DataPlane(merge())
    plane.add_rule(LinkRateLimit("c", "a", 0.0))
    plane.step()
    assert delivered(plane) == pytest.approx((1.0, 4.0))


def test_ip_limit_scales_all_traffic_to_the_address(merge: Callable[..., Scenario]) -> None:
    plane = DataPlane(merge())
    plane.add_rule(IpRateLimit("c", SERVER, 3.0))
    plane.step()
    # 10 MB/s to the server capped at 3 at c: ×0.3 each, 0.6 legit and 2.4 attack.
    assert delivered(plane) == pytest.approx((0.6, 2.4))
    assert plane.rate("c", "server") == pytest.approx(3.0)


def test_ip_limit_only_touches_flows_through_its_node(merge: Callable[..., Scenario]) -> None:
    plane = DataPlane(merge())
    plane.add_rule(IpRateLimit("a", SERVER, 1.0))
    plane.step()
    # Only the attack passes a: 8 → 1; then 1 + 2 = 3 fits the 5 MB/s link.
    assert delivered(plane) == pytest.approx((2.0, 1.0))


def test_ip_limit_for_another_address_has_no_effect(merge: Callable[..., Scenario]) -> None:
    plane = DataPlane(merge())
    plane.add_rule(IpRateLimit("c", "10.9.9.9", 0.0))
    plane.step()
    assert delivered(plane) == pytest.approx((1.0, 4.0))


def test_flow_block_drops_one_source(merge: Callable[..., Scenario]) -> None:
    plane = DataPlane(merge())
    plane.add_rule(FlowBlock("a", ATTACKER_1, SERVER))
    plane.step()
    # 4 (attacker 2) + 2 (legit) = 6 into 5: ×5/6 → attack 10/3, legit 5/3.
    assert delivered(plane) == pytest.approx((5 / 3, 10 / 3))


def test_blocking_every_attacker_restores_legit_traffic(merge: Callable[..., Scenario]) -> None:
    plane = DataPlane(merge())
    for attacker in (ATTACKER_1, ATTACKER_2):
        plane.add_rule(FlowBlock("c", attacker, SERVER))
    plane.step()
    assert delivered(plane) == pytest.approx((2.0, 0.0))


def test_blocks_apply_before_limits_at_a_node(merge: Callable[..., Scenario]) -> None:
    plane = DataPlane(merge())
    plane.add_rule(IpRateLimit("c", SERVER, 4.0))
    plane.add_rule(FlowBlock("c", ATTACKER_1, SERVER))
    plane.step()
    # Block first: 4 + 2 = 6 reach the limit, ×4/6 → attack 8/3, legit 4/3.
    assert delivered(plane) == pytest.approx((4 / 3, 8 / 3))


def test_removed_rules_stop_from_the_next_step(merge: Callable[..., Scenario]) -> None:
    plane = DataPlane(merge())
    rule = plane.add_rule(IpRateLimit("c", SERVER, 3.0))
    plane.step()
    plane.remove_rule(rule)
    assert plane.rules == {}
    plane.step()
    assert delivered(plane) == pytest.approx((1.0, 4.0))


def test_split_partitions_flows_without_touching_rates(merge: Callable[..., Scenario]) -> None:
    plane = DataPlane(merge(attackers=8, attack_rate=0.25, legit=6))
    plane.add_rule(TrafficSplit("c", SERVER, 2))
    plane.step()
    # 8 × 0.25 + 6 × 0.5 = 5 MB/s: exactly fits the link.
    assert plane.server_series()[-1].legit + plane.server_series()[-1].attack == pytest.approx(5.0)
    every = {stats.flow for stats in plane.flows_via("c")}
    parts = [{stats.flow for stats in plane.flows_via("c", SERVER, part=k)} for k in (0, 1)]
    assert parts[0] | parts[1] == every
    assert not parts[0] & parts[1]
    for k, flows in enumerate(parts):
        assert all(split_part(flow.src_ip, 2) == k for flow in flows)
    assert {stats.part for stats in plane.flows_via("c")} == {0, 1}
    assert {stats.part for stats in plane.flows_via("a")} == {None}


def test_rule_ids_are_distinct_and_listed(merge: Callable[..., Scenario]) -> None:
    plane = DataPlane(merge())
    first = plane.add_rule(LinkRateLimit("a", "c", 1.0))
    second = plane.add_rule(TrafficSplit("c", SERVER, 2))
    assert first != second
    assert plane.rules == {
        first: LinkRateLimit("a", "c", 1.0),
        second: TrafficSplit("c", SERVER, 2),
    }


@pytest.mark.parametrize(
    "rule",
    [
        LinkRateLimit("a", "b", 1.0),
        IpRateLimit("nowhere", SERVER, 1.0),
        FlowBlock("nowhere", ATTACKER_1, SERVER),
    ],
)
def test_rules_on_unknown_places_are_refused(
    merge: Callable[..., Scenario], rule: LinkRateLimit | IpRateLimit | FlowBlock
) -> None:
    with pytest.raises(ValueError, match=r"nowhere|no link"):
        DataPlane(merge()).add_rule(rule)


def test_bad_rule_values_are_refused(merge: Callable[..., Scenario]) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        IpRateLimit("c", SERVER, -1.0)
    with pytest.raises(ValueError, match="at least 2"):
        TrafficSplit("c", SERVER, 1)
    plane = DataPlane(merge())
    plane.add_rule(TrafficSplit("c", SERVER, 2))
    with pytest.raises(ValueError, match="already splits"):
        plane.add_rule(TrafficSplit("c", SERVER, 3))
    with pytest.raises(KeyError):
        plane.remove_rule(99)


def test_asking_for_a_part_needs_exactly_one_split(merge: Callable[..., Scenario]) -> None:
    plane = DataPlane(merge())
    plane.step()
    with pytest.raises(ValueError, match="0 traffic splits"):
        plane.flows_via("c", part=0)
    plane.add_rule(TrafficSplit("c", SERVER, 2))
    with pytest.raises(ValueError, match="outside"):
        plane.flows_via("c", part=2)
