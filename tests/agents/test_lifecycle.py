"""Resize and update of a running VNF (003_… §7.2)."""

from __future__ import annotations

import asyncio

import pytest
from tests.conftest import make_scenario

from secmas.agents.lifecycle import (
    UpdateRefused,
    Where,
    plan_resize,
    plan_update,
    resize_in_place,
    roll,
)
from secmas.network.clock import VirtualClock, settle
from secmas.network.infrastructure import Infrastructure, Instance
from secmas.network.resources import Amount


def infra() -> Infrastructure:
    """P (4 cores, 8 GB, 100 GB) and Q (2 / 4 / 50), the DDoS catalogue: an Anomaly
    Detector unit is 1 core, 2 GB, 10 GB and analyses 2 MB/s."""
    return Infrastructure.from_scenario(
        make_scenario(
            pops=[("P", 4, 8, 100), ("Q", 2, 4, 50)],
            links=[("P", "Q", 10, 5, 0)],
            repository="P",
        )
    )


def test_resize_down_in_place_frees_the_units() -> None:
    net = infra()
    ad = net.deploy("P", "anomaly_detector", 3)  # 6 MB/s
    plan = plan_resize(net, ad.id, traffic=1.5)  # now 1.5 MB/s: one unit
    assert (plan.units, plan.to, plan.where) == (3, 1, Where.IN_PLACE)
    resize_in_place(net, plan)
    assert ad.units == 1 and net.free("P") == Amount(3, 6, 90)


def test_resize_up_in_place_when_the_pop_has_room() -> None:
    net = infra()
    ad = net.deploy("P", "anomaly_detector", 1)
    plan = plan_resize(net, ad.id, traffic=5.0)  # ceil(5 / 2) = 3 units
    assert (plan.to, plan.where) == (3, Where.IN_PLACE)
    resize_in_place(net, plan)
    assert ad.units == 3 and net.free("P") == Amount(1, 2, 70)


def test_resize_up_needs_another_pop_when_it_does_not_fit() -> None:
    net = infra()
    ad = net.deploy("Q", "anomaly_detector", 1)  # Q has 1 core, 2 GB left
    plan = plan_resize(net, ad.id, traffic=6.0)  # 3 units: 2 more do not fit
    assert (plan.pop, plan.to, plan.where) == ("Q", 3, Where.ANOTHER_POP)
    with pytest.raises(ValueError, match="not done in place"):
        resize_in_place(net, plan)
    assert ad.units == 1 and plan_resize(net, ad.id, traffic=2.0).where is Where.UNCHANGED


async def _stop(net: Infrastructure, stopped: list[tuple[str, str]], iid: str, cause: str) -> None:
    net.terminate(iid)
    stopped.append((iid, cause))


def test_rolling_update_attests_the_new_image_before_the_old_one_stops() -> None:
    net = infra()
    old = net.deploy("P", "rate_limiter", 1)
    plan = plan_update(net, old.id, "rl-2.0")
    assert plan.where is Where.IN_PLACE
    clock = VirtualClock()
    stopped: list[tuple[str, str]] = []
    seen: list[tuple[float, list[str]]] = []

    async def attest(new: Instance) -> str | None:
        seen.append((clock.now(), sorted(i.image or "v1" for i in net.instances.values())))
        return None

    async def run() -> Instance:
        task = asyncio.ensure_future(
            roll(net, plan, clock, 50.0, attest, lambda i, c: _stop(net, stopped, i, c))
        )
        await settle()
        assert len(net.instances) == 2 and not task.done()  # the copy downloads beside it
        clock.advance(50.0)
        return await task

    new = asyncio.run(run())
    # both served until the copy, downloaded for 50 s, was attested; then the old one stopped
    assert seen == [(50.0, ["rl-2.0", "v1"])]
    assert stopped == [(old.id, f"updated to rl-2.0 by {new.id}")]
    assert list(net.instances) == [new.id] and new.image == "rl-2.0"
    assert net.free("P") == Amount(3, 7, 98)
    assert plan_update(net, new.id, "rl-2.0").where is Where.UNCHANGED


def test_an_image_that_fails_attestation_never_replaces_the_old_one() -> None:
    net = infra()
    old = net.deploy("P", "rate_limiter", 1)
    plan = plan_update(net, old.id, "rl-evil")
    stopped: list[tuple[str, str]] = []

    async def attest(_new: Instance) -> str | None:
        return "measurement differs from the signed reference"

    async def run() -> Instance:
        return await roll(
            net, plan, VirtualClock(), 0.0, attest, lambda i, c: _stop(net, stopped, i, c)
        )

    with pytest.raises(UpdateRefused, match="rl-evil refused"):
        asyncio.run(run())
    assert list(net.instances) == [old.id] and old.image == ""
    assert len(stopped) == 1 and "refused: measurement differs" in stopped[0][1]
    assert net.free("P") == Amount(3, 7, 98)


def test_an_update_without_room_for_the_copy_needs_another_pop() -> None:
    net = infra()
    full = net.deploy("Q", "anomaly_detector", 2)  # Q: 2 cores, 4 GB: all of it
    plan = plan_update(net, full.id, "ad-2.0")
    assert plan.where is Where.ANOTHER_POP
    with pytest.raises(ValueError, match="not rolled in place"):
        asyncio.run(roll(net, plan, VirtualClock(), 0.0, _never, _never_stop))


async def _never(_new: Instance) -> str | None:
    raise AssertionError("nothing to attest")


async def _never_stop(_iid: str, _cause: str) -> None:
    raise AssertionError("nothing to stop")
