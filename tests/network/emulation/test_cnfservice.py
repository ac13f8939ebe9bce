"""Each CNF remedy in the namespace of the PoP that won it, on a real emulated network:
a scaled-out replica and a migrated instance are nginx processes in their PoP's
namespace that serve users who still connect to the service address (through the
front), and the guard stands in its PoP, which the service's traffic is steered
through even though its route does not cross it.

Needs root, namespaces, Mininet, nftables, a cgroup hierarchy and Debian's nginx.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from tests.network.emulation.cnfbed import NEEDS_CNF, Bed, accepted
from tests.network.emulation.conftest import SERVER

from secmas.network.dataplane import Steer
from secmas.network.emulation.cnfattacks import AttackSettings, start_inside
from secmas.network.emulation.cnfdefence import GUARD_TABLE
from secmas.network.emulation.cnffront import FRONT_TABLE
from secmas.network.emulation.counters import TRUTH, parse_named_counters
from secmas.network.emulation.namespaces import CommandFailed, netns_inode

pytestmark = NEEDS_CNF


def test_a_scaled_out_replica_serves_users_from_the_pop_that_won_it(bed: Bed) -> None:
    first = bed.cnf.instances[0]
    assert bed.fetch(10) == 10
    record = bed.cnf.remedy("scale_out", "D")
    replica = bed.cnf.instances[-1]
    home = bed.namespace("server")
    # the replica's nginx is a process in D's namespace, not the server's
    assert record.namespace == bed.network.plan.name("D") and record.pid == replica.master
    assert netns_inode(replica.master) == netns_inode(bed.namespace("D").pid) == record.netns
    assert netns_inode(replica.master) != netns_inode(home.pid)
    assert record.netns == record.pop_netns
    # users still ask the service address; the front spreads them over both instances
    assert bed.collector is not None
    read, truth = bed.collector.counters(), parse_named_counters(home.run(TRUTH))
    before = accepted(first), accepted(replica)
    assert bed.fetch(20) == 20
    served = [accepted(first) - before[0] - 1, accepted(replica) - before[1] - 1]
    assert min(served) >= 5 and sum(served) == 20, served
    # the CNF's bytes are the users', not twice what the front relays to the replica
    now, after = bed.collector.counters(), parse_named_counters(home.run(TRUTH))
    for mine, users in (("net_rx", "legit_in"), ("net_tx", "legit_out")):
        frames = [after[users].bytes + 14 * after[users].packets]
        frames.append(truth[users].bytes + 14 * truth[users].packets)
        moved = getattr(now, mine) - getattr(read, mine)
        assert abs(moved - (frames[0] - frames[1])) <= 0.1 * (frames[0] - frames[1]), mine
    assert bed.cnf.placement.replicas == ("C", "D")


def test_a_migrated_instance_serves_alone_from_its_pop(bed: Bed) -> None:
    first = bed.cnf.instances[0]
    record = bed.cnf.remedy("migrate", "B")
    fresh = bed.cnf.instances[0]
    assert fresh is not first and first.process is None and fresh.pop == "B"
    assert record.netns == netns_inode(bed.namespace("B").pid) == netns_inode(fresh.master)
    home = bed.namespace("server")
    assert f"{SERVER}:8000" not in home.run(["ss", "-Hltn"])  # nothing serves there now
    before, truth = accepted(fresh), parse_named_counters(home.run(TRUTH))
    assert bed.fetch(10) == 10
    assert accepted(fresh) - before - 1 == 10
    # the ground truth at the service address still sees the users both ways
    after = parse_named_counters(home.run(TRUTH))
    for name in ("legit_in", "legit_out"):
        assert after[name].packets - truth[name].packets >= 30, name  # 10 × handshake + GET
    assert bed.cnf.placement.pop == "B"


@pytest.mark.skipif(shutil.which("stress-ng") is None, reason="stress-ng not installed")
def test_isolation_replaces_the_suspect_instance_by_a_clean_one_in_the_winners_pop(
    bed: Bed, tmp_path: Path
) -> None:
    first = bed.cnf.instances[0]
    assert bed.cnf.group is not None
    hog = start_inside(
        bed.network, bed.cnf.group, "high_cpu", AttackSettings(), tmp_path, first.namespace
    )
    record = bed.cnf.remedy("isolate", "D")
    clean = bed.cnf.instances[0]
    assert hog.wait(timeout=10) is not None  # the code planted in the CNF is dead
    assert first.process is None and clean.pop == "D" and len(bed.cnf.instances) == 1
    assert record.netns == netns_inode(bed.namespace("D").pid) == netns_inode(clean.master)
    assert bed.cnf.placement.isolated == ("C",) and bed.cnf.placement.pop == "D"
    assert bed.fetch(5) == 5


def test_the_guard_stands_in_its_pop_and_the_traffic_is_steered_through_it(bed: Bed) -> None:
    plan = bed.network.plan
    assert "D" not in plan.path_to("A", SERVER)  # the users' route does not cross D
    asyncio.run(bed.controller.remedy("web", "guard", "D"))
    steers = [r for r in bed.controller.rules.values() if isinstance(r, Steer)]
    assert steers == [Steer("C", SERVER, ("C", "D"))]
    bed.namespace("D").run(["nft", "list", "table", "inet", GUARD_TABLE])
    with pytest.raises(CommandFailed):
        bed.namespace("server").run(["nft", "list", "table", "inet", GUARD_TABLE])
    assert bed.cnf.remedies[-1].namespace == plan.name("D")
    assert bed.fetch(5) == 5  # a user under the limits is served through D
    # a burst of new connections from one source passes the guard's rate: dropped at D
    bed.fetch(100, wait=0.2)
    dropped, offenders = bed.cnf.defence.guard_state()  # type: ignore[union-attr]
    assert dropped > 0 and offenders == [plan.groups[0].clients[0].ip]
    assert bed.fetch(3, wait=1.0) == 0  # the offender is held off


def test_the_front_is_gone_once_every_instance_is_home_again(bed: Bed) -> None:
    bed.cnf.remedy("scale_out", "D")
    home = bed.namespace("server")
    home.run(["nft", "list", "table", "ip", FRONT_TABLE])
    assert bed.cnf.front is not None
    bed.cnf.front.spread([SERVER])
    with pytest.raises(CommandFailed):
        home.run(["nft", "list", "table", "ip", FRONT_TABLE])
    assert bed.fetch(4) == 4


def test_an_instance_in_the_guards_pop_answers_through_the_steering(bed: Bed) -> None:
    """Its answers to the front start in the PoP the service's traffic is steered through:
    steered back there, they would arrive with that PoP's own address as their source and
    be dropped."""
    asyncio.run(bed.controller.remedy("web", "guard", "D"))
    bed.cnf.remedy("migrate", "D")
    assert bed.fetch(5, wait=2.0) == 5
