"""Key rotation while every member streams: no frame dropped, no reply timed out.

Before, each member sent under a new epoch as soon as it had fetched the secret, and
members that had not fetched it yet dropped those frames (`no_key`); a controller's reply
sealed under the new epoch never opened at the requester, which timed out. Here four
agents and a controller stream group frames, directed frames and requests continuously
while the epoch rotates, each member's install taking a while (as a ledger fetch does),
on the in-memory bus and on a real nats-server. One-phase rotation is run too, to show
the stream does catch what two-phase rotation prevents."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import pytest
from tests.transport.channel_members import FLOOR, inbox, recipient

from secmas.transport import Bus, MemoryBus
from secmas.transport.broker import MISSING_BINARY, NatsServer, find_nats_server
from secmas.transport.channel import Drop, SecureBus
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import EpochKeyring, PeerKeys
from secmas.trust.rotation import rotate

PIPELINE, VNI = "ddos", 9
SECRETS = {1: bytes(range(32)), 2: bytes(range(50, 82))}
AGENTS = ("pop1", "pop2", "pop3", "pop4")
CONTROLLER = "ctl"
INSTALL_S = 0.05
"""How long one member's install takes (its ledger fetch)."""


Connect = Callable[[str], Awaitable[Bus]]


@dataclass
class Member:
    name: str
    keys: EpochKeyring
    bus: SecureBus
    received: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(sender, subject kind) -> frames delivered."""


@dataclass
class Load:
    """What the senders sent and what went wrong for them."""

    sent: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(sender, receiver or 'floor', kind) -> frames sent."""
    answered: int = 0
    timeouts: Counter[str] = field(default_factory=Counter)
    """Requester -> requests that got no answer in time."""


class Mesh:
    """The members of one pipeline segment, each with a SecureBus over its own inner bus."""

    def __init__(self, members: dict[str, Member]) -> None:
        self.members = members
        self.excluded: set[str] = set()
        """Agents the others stopped addressing (a revoked one, as the TrustView does)."""

    @classmethod
    async def build(cls, connect: Connect, switch_after: float) -> Mesh:
        names = (*AGENTS, CONTROLLER)
        identities = {n: AgentIdentity.generate(n) for n in names}
        directory = {n: PeerKeys.of(i) for n, i in identities.items()}
        members = {}
        for name in names:
            keys = EpochKeyring(
                identities[name], PIPELINE, VNI, directory, switch_after=switch_after
            )
            keys.install(1, SECRETS[1])
            bus = SecureBus(await connect(name), name, VNI, keys, recipient)
            members[name] = Member(name, keys, bus)
        mesh = cls(members)
        for member in members.values():
            await mesh._subscribe(member)
        for member in members.values():
            await member.bus.flush()
        return mesh

    async def _subscribe(self, member: Member) -> None:
        async def on_floor(_subject: str, data: bytes) -> None:
            member.received[data.split(b"|")[0].decode(), "floor"] += 1

        async def on_inbox(_subject: str, data: bytes) -> bytes:
            member.received[data.split(b"|")[0].decode(), "inbox"] += 1
            return b"ok|" + data

        await member.bus.subscribe(FLOOR, on_floor)
        await member.bus.subscribe(inbox(member.name), on_inbox)

    def honest(self, revoked: str | None) -> list[Member]:
        return [m for n, m in self.members.items() if n != revoked]

    async def stream(self, name: str, load: Load, stop: asyncio.Event) -> None:
        """Group frames, directed frames and requests to the controller, until `stop`."""
        bus = self.members[name].bus
        i = 0
        while not stop.is_set():
            i += 1
            peers = [a for a in AGENTS if a != name and a not in self.excluded]
            data = f"{name}|{i}".encode()
            await bus.publish(FLOOR, data)
            load.sent[name, "floor", "floor"] += 1
            peer = peers[i % len(peers)]
            await bus.publish(inbox(peer), data)
            load.sent[name, peer, "inbox"] += 1
            if i % 4 == 0:
                load.sent[name, CONTROLLER, "inbox"] += 1
                try:
                    await bus.request(inbox(CONTROLLER), data, timeout=1.5)
                    load.answered += 1
                except TimeoutError:
                    load.timeouts[name] += 1
            await asyncio.sleep(0.002)

    async def close(self) -> None:
        for member in self.members.values():
            await member.bus.close()


async def two_phase(mesh: Mesh, revoked: str | None) -> None:
    """What the MLFO does: revoke, install everywhere (acknowledged), then switch."""
    honest = mesh.honest(revoked)
    if revoked is not None:
        mesh.excluded.add(revoked)
        for member in honest:
            member.keys.revoke(revoked)

    async def install(name: str) -> None:
        await asyncio.sleep(INSTALL_S)
        mesh.members[name].keys.install(2, SECRETS[2])

    async def switch(name: str) -> None:
        mesh.members[name].keys.activate(2)

    rotation = await rotate(2, [m.name for m in honest], install, switch, timeout=5.0, limit=1)
    assert rotation.missing == {}


async def one_phase(mesh: Mesh, revoked: str | None) -> None:
    """As before: each member sends under the new epoch as soon as it has it."""
    for member in mesh.honest(revoked):
        await asyncio.sleep(INSTALL_S)
        member.keys.install(2, SECRETS[2])  # switch_after=0: sent under at once


async def run_load(
    connect: Connect,
    rotation: Callable[[Mesh, str | None], Awaitable[None]],
    *,
    revoked: str | None = None,
    switch_after: float = 5.0,
) -> tuple[Mesh, Load]:
    mesh = await Mesh.build(connect, switch_after)
    load, stop = Load(), asyncio.Event()
    senders = [asyncio.ensure_future(mesh.stream(a, load, stop)) for a in AGENTS]
    try:
        await asyncio.sleep(0.1)  # in full flow under epoch 1
        await rotation(mesh, revoked)
        await asyncio.sleep(0.1)  # and on under epoch 2
        stop.set()
        await asyncio.gather(*senders)
        for member in mesh.members.values():
            await member.bus.flush()
        await asyncio.sleep(0.2)  # the last frames are delivered
    finally:
        stop.set()
        await asyncio.gather(*senders, return_exceptions=True)
        await mesh.close()
    return mesh, load


def delivered_everything(mesh: Mesh, load: Load, revoked: str | None) -> None:
    """Every frame an honest agent sent reached every honest member it was for, and the
    only frames dropped are the revoked agent's."""
    honest = {m.name for m in mesh.honest(revoked)}
    for member in mesh.members.values():
        if member.name not in honest:
            continue
        for sender in honest & set(AGENTS):
            assert member.received[sender, "floor"] == load.sent[sender, "floor", "floor"]
            assert member.received[sender, "inbox"] == load.sent[sender, member.name, "inbox"]
        dropped = member.bus.channel_stats.dropped
        assert set(dropped) <= {Drop.REVOKED}, (member.name, dropped)
    assert not any(load.timeouts[n] for n in honest), load.timeouts
    assert all(m.keys.sending == 2 for m in mesh.honest(revoked))


@pytest.fixture(scope="module")
def nats_server() -> Iterator[NatsServer]:
    if find_nats_server() is None:
        pytest.skip(f"rotation over NATS needs a server: {MISSING_BINARY}")
    with NatsServer() as running:
        yield running


@contextlib.asynccontextmanager
async def buses(kind: str, server: NatsServer | None) -> AsyncIterator[Connect]:
    async with contextlib.AsyncExitStack() as stack:
        if kind == "memory":
            shared = MemoryBus()
            stack.push_async_callback(shared.close)

            async def memory(_name: str) -> Bus:
                return shared

            yield memory
            return
        from secmas.transport.nats import NatsBus

        assert server is not None

        async def nats(name: str) -> Bus:
            bus = await NatsBus.connect(server.url, name=f"rotation-{name}")
            stack.push_async_callback(bus.close)
            return bus

        yield nats


@pytest.fixture(params=["memory", "nats"])
def kind(request: pytest.FixtureRequest) -> tuple[str, NatsServer | None]:
    if request.param == "nats":
        return "nats", request.getfixturevalue("nats_server")
    return "memory", None


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 300))


@pytest.mark.parametrize("revoked", [None, "pop3"])
def test_two_phase_rotation_under_load_drops_nothing(kind, revoked):
    async def main():
        async with buses(*kind) as connect:
            mesh, load = await run_load(connect, two_phase, revoked=revoked)
        delivered_everything(mesh, load, revoked)
        assert load.answered > 10 and sum(load.sent.values()) > 100  # it was under load
        if revoked is not None:  # it kept sending; honest members refused it
            refused = sum(m.bus.channel_stats.dropped[Drop.REVOKED] for m in mesh.honest(revoked))
            assert refused > 0

    run(main())


def test_one_phase_rotation_under_load_drops_frames(kind):
    """The same stream with the old switch-at-once: the harness sees the drops."""

    async def main():
        async with buses(*kind) as connect:
            mesh, _ = await run_load(connect, one_phase, switch_after=0.0)
        dropped = Counter[str]()
        for member in mesh.members.values():
            dropped.update(member.bus.channel_stats.dropped)
        assert dropped[Drop.NO_KEY] > 0

    run(main())


def test_a_member_that_misses_the_switch_still_switches_and_drops_nothing():
    """The coordinator's switch message to pop2 is lost: pop2 switches by itself
    `switch_after` seconds after its install, and everyone kept receiving both epochs."""

    async def main():
        async with buses("memory", None) as connect:

            async def lossy(mesh: Mesh, revoked: str | None) -> None:
                async def install(name: str) -> None:
                    mesh.members[name].keys.install(2, SECRETS[2])

                async def switch(name: str) -> None:
                    if name == "pop2":
                        raise ConnectionError("switch message lost")
                    mesh.members[name].keys.activate(2)

                names = list(mesh.members)
                await rotate(2, names, install, switch, timeout=5.0)
                assert mesh.members["pop2"].keys.sending == 1
                await asyncio.sleep(0.35)

            mesh, load = await run_load(connect, lossy, switch_after=0.3)
        delivered_everything(mesh, load, None)

    run(main())
