"""Attacks on secure aggregation's messages over the agents' bus: every round message
spoofed in another party's name, and messages replayed from an earlier round or session.
Each must be refused with a reason that says so, and the sum must stay exact (never a
silently wrong one). On the in-memory bus and on a real nats-server (`buses` fixture)."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from secmas.secagg.agent import BusRun, ClientAgent, agent_input, aggregate_over_bus, subject
from secmas.secagg.envelope import SERVER, Inbox, seal
from secmas.secagg.errors import ImpersonationError, ReplayError
from secmas.secagg.messages import (
    Advertise,
    Config,
    ConsistencySignature,
    Forwarded,
    KeyBook,
    MaskedInput,
    Message,
    Setup,
    ShareCiphertexts,
    SignatureBook,
    Survivors,
    UnmaskShares,
)
from secmas.secagg.session import Identities, make_config
from secmas.transport.bus import Bus

from .conftest import BusPair, run

N = 5
LENGTH = 64
VICTIM = 1
INSIDER = 4
"""An enrolled client with its own key, turned adversary."""


def expected_sum(config: Config, seed: int, clients: tuple[int, ...]) -> np.ndarray:
    q = config.quantiser
    return sum(q.quantise(agent_input(seed, c, config)).values for c in clients)  # type: ignore[return-value]


async def aggregate(bus: Bus, people: Identities, config: Config, seed: int) -> BusRun:
    agents = [
        ClientAgent(
            bus, c, people.keys[c], people.envelopes, lambda k, c=c: agent_input(seed, c, k)
        )
        for c in config.clients
    ]
    for agent in agents:
        await agent.start()
    await bus.flush()
    try:
        result = await aggregate_over_bus(
            bus, config, people.server, people.directory, round_timeout=5.0
        )
    finally:
        for agent in agents:
            await agent.stop()
    result.agents = agents  # type: ignore[attr-defined]
    return result


def round_of_envelope(data: bytes) -> int:
    return data[5]


def test_a_masked_input_spoofed_in_another_clients_name_is_refused(buses: BusPair) -> None:
    """The insider answers the victim's round-2 request first, with a MaskedInput naming
    the victim (signed with its own key under the victim's id, and openly as itself)."""

    async def scenario() -> None:
        async with buses() as (mine, theirs):
            people = Identities.generate(range(N))
            config, _ = make_config(range(N), LENGTH)
            forged = MaskedInput(VICTIM, config.ring.encode(np.full(config.width, 7)))
            spoofs = [
                seal(people.keys[INSIDER], config.session, VICTIM, SERVER, forged),
                seal(people.keys[INSIDER], config.session, INSIDER, SERVER, forged),
            ]

            async def answer_first(subject_: str, data: bytes) -> None:
                if round_of_envelope(data) == 2:
                    for spoof in spoofs:
                        await theirs.publish(subject(config.session, SERVER), spoof)

            tap = await theirs.subscribe(subject(config.session, VICTIM), answer_first)
            await theirs.flush()
            result = await aggregate(mine, people, config, seed=3)
            await tap.unsubscribe()
            assert result.aggregate.survivors == tuple(range(N))
            assert np.array_equal(
                result.aggregate.integers, expected_sum(config, 3, config.clients)
            )
            reasons = "\n".join(result.refused)
            assert "claiming to come from client 1 is not signed by its identity key" in reasons
            assert "client 4 signed a MaskedInput in the name of client 1" in reasons

    run(scenario())


def forged_messages(config: Config) -> list[Message]:
    vector = config.ring.zeros(config.width)
    return [
        Advertise(VICTIM, bytes(32), bytes(range(32)), bytes(64)),
        ShareCiphertexts(VICTIM, bytes(32), ()),
        MaskedInput(VICTIM, vector),
        ConsistencySignature(VICTIM, bytes(64)),
        UnmaskShares(VICTIM, (), ()),
    ]


def server_messages(config: Config) -> list[Message]:
    return [
        Setup(config),
        KeyBook(()),
        Forwarded(()),
        Survivors(config.clients),
        SignatureBook(()),
    ]


@pytest.mark.parametrize("number", range(5))
def test_every_round_message_in_another_partys_name_is_refused(number: int) -> None:
    people = Identities.generate(range(N))
    config, _ = make_config(range(N), LENGTH)
    insider = people.keys[INSIDER]
    to_server = Inbox(config.session, SERVER, people.envelopes, round=number)
    reply = forged_messages(config)[number]
    # signed by the insider's key under the victim's id
    with pytest.raises(ImpersonationError, match="not signed by its identity key"):
        to_server.open(seal(insider, config.session, VICTIM, SERVER, reply))
    # signed openly by the insider, the message naming the victim
    with pytest.raises(ImpersonationError, match="in the name of client 1"):
        to_server.open(seal(insider, config.session, INSIDER, SERVER, reply))
    # a server request to the victim: forged under the server's id, or sent as a client
    to_victim = Inbox(config.session, VICTIM, people.envelopes, round=number)
    request = server_messages(config)[number]
    with pytest.raises(ImpersonationError, match="claiming to come from the server"):
        to_victim.open(seal(insider, config.session, SERVER, VICTIM, request))
    with pytest.raises(ImpersonationError, match="which only the other side sends"):
        to_victim.open(seal(insider, config.session, INSIDER, VICTIM, request))
    # the victim's own genuine reply, sent to someone else, is not the server's to take
    with pytest.raises(ImpersonationError, match="addressed to client 2"):
        to_server.open(seal(people.keys[VICTIM], config.session, VICTIM, 2, reply))
    # a tampered byte anywhere breaks the signature
    genuine = bytearray(seal(people.keys[VICTIM], config.session, VICTIM, SERVER, reply))
    genuine[-70] ^= 1
    with pytest.raises(ImpersonationError, match="not signed"):
        to_server.open(bytes(genuine))
    # and nothing was taken: the genuine reply still opens, once
    envelope = seal(people.keys[VICTIM], config.session, VICTIM, SERVER, reply)
    assert to_server.open(envelope)[0] == VICTIM
    with pytest.raises(ReplayError, match=f"a second round-{number} .* from client 1"):
        to_server.open(envelope)
    # replayed in a later round, or into another session
    to_server.round = number + 1
    with pytest.raises(ReplayError, match=f"during round {number + 1}: replayed or late"):
        to_server.open(seal(people.keys[2], config.session, 2, SERVER, _as(reply, 2)))
    other = Inbox(bytes(16), SERVER, people.envelopes, round=number)
    with pytest.raises(ReplayError, match=f"of session {config.session.hex()}, this is"):
        other.open(envelope)


def _as(message: Message, client: int) -> Message:
    return dataclasses.replace(message, client=client)  # type: ignore[type-var]


def test_a_forged_server_request_gets_no_answer_from_an_agent(buses: BusPair) -> None:
    async def scenario() -> None:
        async with buses() as (mine, theirs):
            people = Identities.generate(range(N))
            config, _ = make_config(range(N), LENGTH)
            agent = ClientAgent(
                mine, VICTIM, people.keys[VICTIM], people.envelopes, lambda k: np.zeros(LENGTH)
            )
            await agent.start()
            heard: list[bytes] = []

            async def listen(subject_: str, data: bytes) -> None:
                heard.append(data)

            tap = await theirs.subscribe(subject(config.session, SERVER), listen)
            await mine.flush()
            await theirs.flush()
            forged = seal(people.keys[INSIDER], config.session, SERVER, VICTIM, Setup(config))
            await theirs.publish(subject(config.session, VICTIM), forged)
            await theirs.flush()
            for _ in range(50):
                if agent.refused:
                    break
                await asyncio.sleep(0.02)
            await agent.stop()
            await tap.unsubscribe()
            assert heard == []
            assert agent.refused and "claiming to come from the server" in agent.refused[0]

    run(scenario())


def test_messages_replayed_from_earlier_rounds_and_sessions_are_refused(buses: BusPair) -> None:
    """The adversary records every reply of session A, then during session B replays each
    of them, repeats each reply of B at once, and replays B's round-k replies in round
    k + 1; it also replays A's Setup to an agent that finished A."""

    async def scenario() -> None:
        async with buses() as (mine, theirs):
            people = Identities.generate(range(N))
            first, _ = make_config(range(N), LENGTH)
            second, _ = make_config(range(N), LENGTH)
            recorded: dict[int, list[bytes]] = {r: [] for r in range(5)}
            setups: list[bytes] = []

            async def record(subject_: str, data: bytes) -> None:
                if subject_.endswith(".server"):
                    recorded[round_of_envelope(data)].append(data)
                elif subject_.endswith(f".{VICTIM}") and round_of_envelope(data) == 0:
                    setups.append(data)

            tap = await theirs.subscribe(f"secagg.{first.session.hex()}.>", record)
            await theirs.flush()
            result_a = await aggregate(mine, people, first, seed=1)
            await tap.unsubscribe()
            assert np.array_equal(
                result_a.aggregate.integers, expected_sum(first, 1, first.clients)
            )
            server_b = subject(second.session, SERVER)
            seen: dict[int, list[bytes]] = {r: [] for r in range(5)}
            ours: set[bytes] = set()

            async def again(data: bytes) -> None:
                ours.add(data)
                await theirs.publish(server_b, data)

            async def replay(subject_: str, data: bytes) -> None:
                number = round_of_envelope(data)
                if subject_ != server_b or data in ours or data in seen[number]:
                    return  # not a reply, or our own copy coming back
                await again(data)  # the same reply again
                if number >= 1 and not seen[number]:  # first reply of a new round
                    for old in seen[number - 1]:
                        await again(old)
                seen[number].append(data)
                for old in recorded[number]:  # session A's reply of this round
                    await again(old)

            tap = await theirs.subscribe(f"secagg.{second.session.hex()}.>", replay)
            await theirs.flush()

            result_b = await aggregate(mine, people, second, seed=2)
            await tap.unsubscribe()
            assert result_b.aggregate.survivors == tuple(range(N))
            assert np.array_equal(
                result_b.aggregate.integers, expected_sum(second, 2, second.clients)
            )
            reasons = "\n".join(result_b.refused)
            assert f"of session {first.session.hex()}, this is session" in reasons
            assert "replayed or late, refused" in reasons
            # session A's Setup replayed to an agent that took part in A
            victim = result_a.agents[VICTIM]  # type: ignore[attr-defined]
            await victim.start()
            await mine.flush()
            await theirs.publish(subject(first.session, VICTIM), setups[0])
            await theirs.flush()
            for _ in range(100):
                if victim.refused:
                    break
                await asyncio.sleep(0.02)
            await victim.stop()
            assert "a round-0 Setup from the server during round 5: replayed" in victim.refused[0]

    run(scenario())
