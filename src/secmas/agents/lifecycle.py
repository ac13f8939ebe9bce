"""The lifecycle operations on a running VNF that `003_…` left open (§7.2): resize and update.

The dissertation's agents instantiate, scale and query their VNFs but cannot update them
or size them to a traffic that changed. Here each is a plan of the Orchestrator
capability, decided on the PoP's state alone: a resize grows or shrinks the instance's
units where it runs when the PoP has room (units for the traffic, Section 5.4.1), and an
update is rolling, a copy with the new image started beside the old one, attested, and
only then taking its place, so the VNF never stops serving. Either needs another PoP when
this one has no room (the larger instance, the surge copy): the plan says so, and the
NFV-A auction places it there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from secmas.network.clock import Clock
from secmas.network.infrastructure import Infrastructure, Instance
from secmas.network.resources import req, units_needed

Attest = Callable[[Instance], Awaitable[str | None]]
"""Re-attestation of an instance's image: why it is refused, or None when it is trusted."""

Stop = Callable[[str, str], Awaitable[object]]
"""Terminate an instance (id, cause), journalled by the caller's agent."""


class Where(StrEnum):
    """Where a lifecycle operation runs."""

    UNCHANGED = "unchanged"
    IN_PLACE = "in place"
    ANOTHER_POP = "another PoP"


@dataclass(frozen=True, slots=True)
class Resize:
    """Resize `instance` of `vnf` on `pop` from `units` to `to` units."""

    instance: str
    vnf: str
    pop: str
    units: int
    to: int
    where: Where


@dataclass(frozen=True, slots=True)
class Update:
    """Replace `instance` (`units` units of `vnf` on `pop`) by one running `image`."""

    instance: str
    vnf: str
    pop: str
    units: int
    image: str
    where: Where


class UpdateRefused(RuntimeError):
    """The new image failed its attestation; the old instance keeps serving."""


def plan_resize(infra: Infrastructure, instance_id: str, traffic: float) -> Resize:
    """The units `traffic` MB/s needs (at least one), and where they fit: in place when the
    instance shrinks or its PoP has the extra units free, else on another PoP."""
    instance = infra.instances[instance_id]
    vnf = infra.catalogue[instance.vnf]
    to = units_needed(vnf, traffic)
    grow = req(vnf, to - instance.units) if to > instance.units else None
    if to == instance.units:
        where = Where.UNCHANGED
    elif grow is None or grow.fits_in(infra.pops[instance.pop].unheld):
        where = Where.IN_PLACE
    else:
        where = Where.ANOTHER_POP
    return Resize(instance.id, instance.vnf, instance.pop, instance.units, to, where)


def resize_in_place(infra: Infrastructure, plan: Resize) -> None:
    """Carry out an in-place resize: the freed units go back to the PoP, or the new ones
    are allocated (CapacityError when they were taken since the plan)."""
    if plan.where is not Where.IN_PLACE:
        raise ValueError(f"{plan.instance}: a resize {plan.where} is not done in place")
    if plan.to < plan.units:
        infra.scale_in(plan.instance, plan.to)
    else:
        infra.scale_out(plan.instance, plan.to)


def plan_update(infra: Infrastructure, instance_id: str, image: str) -> Update:
    """In place (rolling) when the PoP has room for a second copy of the instance beside
    it, else on another PoP; unchanged when it runs `image` already."""
    instance = infra.instances[instance_id]
    copy = req(infra.catalogue[instance.vnf], instance.units)
    if instance.image == image:
        where = Where.UNCHANGED
    elif copy.fits_in(infra.pops[instance.pop].unheld):
        where = Where.IN_PLACE
    else:
        where = Where.ANOTHER_POP
    return Update(instance.id, instance.vnf, instance.pop, instance.units, image, where)


async def roll(
    infra: Infrastructure,
    plan: Update,
    clock: Clock,
    download_s: float,
    attest: Attest,
    stop: Stop,
) -> Instance:
    """A rolling update in place: start a copy running the new image beside the old one
    (its resources taken at once), download the image for `download_s`, attest the copy;
    then stop the old instance. A copy whose attestation fails is stopped instead and
    UpdateRefused raised: the old instance never stopped serving."""
    if plan.where is not Where.IN_PLACE:
        raise ValueError(f"{plan.instance}: an update {plan.where} is not rolled in place")
    new = infra.deploy(plan.pop, plan.vnf, plan.units)
    new.image = plan.image
    try:
        await clock.sleep(download_s)
        refused = await attest(new)
    except BaseException:
        await stop(new.id, f"update of {plan.instance} to {plan.image} stopped")
        raise
    if refused is not None:
        await stop(new.id, f"update of {plan.instance} to {plan.image} refused: {refused}")
        raise UpdateRefused(f"{plan.instance}: image {plan.image} refused: {refused}")
    await stop(plan.instance, f"updated to {plan.image} by {new.id}")
    return new
