"""Secure aggregation among agents: the protocol's rounds over the agents' bus.

The server publishes each client's request of a round, in a signed envelope
(`secmas.secagg.envelope`), on `secagg.<session>.<client>`; each agent's `ClientAgent`
answers on `secagg.<session>.server`, signed with its identity key. The server takes the
first valid reply of each client it asked, until all replied or the round's deadline
passes (a client that did not answer in time has dropped out: Bonawitz et al.'s dropout
recovery takes over). Whatever does not open — a frame in another client's name, a replay
from another session or round, a second copy — is refused with the reason in
`BusRun.refused` (server side) or `ClientAgent.refused`, and never reaches the protocol.

Any `Bus` carries it: the in-memory bus in one process, NATS between agent processes,
and the secure channel's `SecureBus` over either where a pipeline has one. Run one agent
as its own process with `python -m secmas.secagg.agent` (see `main`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.secagg.envelope import SERVER, Inbox, seal
from secmas.secagg.errors import ImpersonationError, SecAggError, WireError
from secmas.secagg.messages import SESSION_BYTES, Config, Message
from secmas.secagg.protocol import Aggregate, Client, Server
from secmas.secagg.session import Identities
from secmas.transport.bus import Bus, Subscription

__all__ = [
    "BusRun",
    "ClientAgent",
    "agent_input",
    "aggregate_among",
    "aggregate_over_bus",
    "main",
    "subject",
]

logger = logging.getLogger(__name__)

PREFIX = "secagg"
MAX_SESSIONS = 64
"""Sessions an agent remembers (so a replayed Setup of a finished one is refused)."""

Inputs = Callable[[Config], np.ndarray]
"""What an agent contributes to a session, given its configuration."""


Names = Mapping[int, str]
"""How clients are named in subjects, where not by their ids (a pipeline's agents by
their names, so the bus's permissions can hold each to its own)."""


def subject(session: bytes, party: int, prefix: str = PREFIX, names: Names | None = None) -> str:
    """The subject of `party`'s messages in `session` (a client id, or SERVER); a
    pipeline's sums go under a prefix of its own (`secmas.secagg.fedrun`)."""
    if party == SERVER:
        return f"{prefix}.{session.hex()}.server"
    return f"{prefix}.{session.hex()}.{party if names is None else names[party]}"


def _session_of(subject_: str) -> bytes | None:
    parts = subject_.split(".")
    try:
        session = bytes.fromhex(parts[-2]) if len(parts) >= 3 else b""
    except ValueError:
        return None
    return session if len(session) == SESSION_BYTES else None


@dataclass
class _Session:
    inbox: Inbox
    client: Client
    done: bool = False


def _answer(client: Client, number: int, request: Message, x: Inputs) -> Message:
    if number == 0:
        return client.advertise(request)  # type: ignore[arg-type]
    if number == 1:
        return client.share_keys(request)  # type: ignore[arg-type]
    if number == 2:
        assert client.config is not None
        return client.masked_input(request, x(client.config))  # type: ignore[arg-type]
    if number == 3:
        return client.consistency(request)  # type: ignore[arg-type]
    return client.unmask(request)  # type: ignore[arg-type]


class ClientAgent:
    """An agent's client side: answers the server's requests of any session it is on the
    roster of, one `Client` per session (made by `make_client`), with `inputs(config)` as
    its contribution.

    `directory` holds the raw Ed25519 keys of the clients and, under SERVER, the
    server's; the agent only answers envelopes the server signed. Its requests come on
    `<prefix>.<session>.<name>` (`name` default: its id)."""

    def __init__(
        self,
        bus: Bus,
        me: int,
        identity: Ed25519PrivateKey,
        directory: Mapping[int, bytes],
        inputs: Inputs,
        *,
        make_client: Callable[[int, Ed25519PrivateKey, Mapping[int, bytes]], Client] = Client,
        prefix: str = PREFIX,
        name: str | None = None,
    ) -> None:
        self.bus = bus
        self.prefix = prefix
        self.name = str(me) if name is None else name
        self.me = me
        self._identity = identity
        self._directory = dict(directory)
        self._clients = {c: k for c, k in self._directory.items() if c != SERVER}
        self._inputs = inputs
        self._make_client = make_client
        self._sessions: dict[bytes, _Session] = {}
        self._subscription: Subscription | None = None
        self.refused: list[str] = []
        self.finished: asyncio.Event = asyncio.Event()
        """Set whenever a session's last round was answered."""

    async def start(self) -> None:
        """Listen on this agent's subjects of every session."""
        self._subscription = await self.bus.subscribe(f"{self.prefix}.*.{self.name}", self._on)

    async def stop(self) -> None:
        """Stop listening."""
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    def _refuse(self, reason: str) -> None:
        self.refused.append(reason)
        logger.warning("secure aggregation: %s", reason)

    async def _on(self, subject_: str, data: bytes) -> None:
        session = _session_of(subject_)
        if session is None:
            self._refuse(f"client {self.me}: a message on {subject_!r}, not a session subject")
            return
        state = self._sessions.get(session)
        inbox = state.inbox if state else Inbox(session, self.me, self._directory)
        try:
            sender, request = inbox.open(data)
            if sender != SERVER:
                raise ImpersonationError(
                    f"client {self.me}: client {sender} sent it a {type(request).__name__}; "
                    "only the server asks: refused"
                )
            if state is None:
                state = self._new(inbox)
            reply = _answer(state.client, inbox.round, request, self._inputs)
        except (SecAggError, WireError, ValueError) as exc:
            self._refuse(str(exc))
            return
        inbox.round += 1
        envelope = seal(self._identity, session, self.me, SERVER, reply)
        await self.bus.publish(subject(session, SERVER, self.prefix), envelope)
        if inbox.round == 5:
            self.finished.set()

    def _new(self, inbox: Inbox) -> _Session:
        if len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        state = _Session(inbox, self._make_client(self.me, self._identity, self._clients))
        self._sessions[inbox.session] = state
        return state


@dataclass
class BusRun:
    """A session aggregated over a bus: the aggregate, the refusals with their reasons,
    the clients that answered each round, the envelopes' bytes and the wall time."""

    aggregate: Aggregate
    server: Server
    refused: list[str] = field(default_factory=list)
    answered: list[tuple[int, ...]] = field(default_factory=list)
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0


async def aggregate_over_bus(
    bus: Bus,
    config: Config,
    identity: Ed25519PrivateKey,
    directory: Mapping[int, bytes],
    *,
    round_timeout: float = 10.0,
    prefix: str = PREFIX,
    names: Names | None = None,
) -> BusRun:
    """Run the server of one session over `bus` (subjects under `prefix`): `identity` is
    the server's signing key, `directory` the clients' raw Ed25519 keys, `names` how the
    clients are named in subjects. Returns once round 4 is closed; raises
    ThresholdError (too few clients answered a round) and the protocol's other errors."""
    session = config.session
    inbox = Inbox(session, SERVER, directory)
    server = Server(config, directory)
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def collect(subject_: str, data: bytes) -> None:
        queue.put_nowait(data)

    began = time.perf_counter()
    run: BusRun | None = None
    refused: list[str] = []
    answered: list[tuple[int, ...]] = []
    sent = received = 0
    subscription = await bus.subscribe(subject(session, SERVER, prefix), collect)
    try:
        requests: dict[int, Message] = dict(server.setup())
        for number in range(5):
            inbox.round = number
            for u, request in requests.items():
                envelope = seal(identity, session, SERVER, u, request)
                sent += len(envelope)
                await bus.publish(subject(session, u, prefix, names), envelope)
            got, waiting = [], set(requests)
            deadline = asyncio.get_running_loop().time() + round_timeout
            while waiting:
                left = deadline - asyncio.get_running_loop().time()
                try:
                    data = await asyncio.wait_for(queue.get(), max(left, 0.0))
                except TimeoutError:
                    break
                received += len(data)
                try:
                    sender, reply = inbox.open(data)
                except (SecAggError, WireError) as exc:
                    refused.append(str(exc))
                    continue
                if sender not in waiting:
                    refused.append(f"the server: client {sender} was not asked in round {number}")
                    continue
                server.receive(reply)
                waiting.discard(sender)
                got.append(sender)
            answered.append(tuple(sorted(got)))
            requests = server.close_round()  # type: ignore[assignment]
        refused += [f"client {c}, round {r}: {why}" for c, r, why in server.rejected]
        run = BusRun(server.result(), server, refused, answered, sent, received)
    finally:
        await subscription.unsubscribe()
    run.seconds = time.perf_counter() - began
    return run


async def aggregate_among(
    bus: Bus,
    vectors: Mapping[int, np.ndarray],
    config: Config,
    identities: Identities,
    *,
    round_timeout: float = 10.0,
) -> BusRun:
    """One session among agents on `bus` in this process: a `ClientAgent` per entry of
    `vectors` (agent id → its input) with its key from `identities`, and the server."""
    agents = [
        ClientAgent(bus, c, identities.keys[c], identities.envelopes, lambda _, v=v: v)
        for c, v in vectors.items()
    ]
    for agent in agents:
        await agent.start()
    try:
        return await aggregate_over_bus(
            bus, config, identities.server, identities.directory, round_timeout=round_timeout
        )
    finally:
        for agent in agents:
            await agent.stop()


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m secmas.secagg.agent",
        description="One agent's client side of secure aggregation over a NATS bus.",
    )
    parser.add_argument("--bus", required=True, help="NATS URL, e.g. nats://127.0.0.1:4222")
    parser.add_argument("--id", type=int, required=True, help="this agent's client id")
    parser.add_argument(
        "--key", type=Path, required=True, help="file with this agent's raw Ed25519 key (hex)"
    )
    parser.add_argument(
        "--directory",
        type=Path,
        required=True,
        help='JSON {"server": hex, "clients": {id: hex}} of raw Ed25519 public keys',
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of this agent's input")
    parser.add_argument("--sessions", type=int, default=1, help="sessions to take part in")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait at most")
    return parser.parse_args(argv)


def agent_input(seed: int, me: int, config: Config) -> np.ndarray:
    """The input of the demonstration agents: uniform in [−clip, clip], from (seed, id)."""
    rng = np.random.default_rng([seed, me])
    return rng.uniform(-config.clip, config.clip, config.length)


def _load(args: argparse.Namespace) -> tuple[Ed25519PrivateKey, dict[int, bytes]]:
    try:
        identity = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(args.key.read_text().strip()))
        raw = json.loads(args.directory.read_text())
        directory = {int(c): bytes.fromhex(k) for c, k in raw["clients"].items()}
        directory[SERVER] = bytes.fromhex(raw["server"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"secmas.secagg.agent: unusable --key or --directory: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return identity, directory


async def _serve(args: argparse.Namespace) -> int:
    from secmas.transport.nats import NatsBus

    identity, directory = _load(args)
    bus = await NatsBus.connect(args.bus, name=f"secagg-client-{args.id}")
    agent = ClientAgent(
        bus, args.id, identity, directory, lambda c: agent_input(args.seed, args.id, c)
    )
    await agent.start()
    await bus.flush()
    print("ready", flush=True)
    try:
        for _ in range(args.sessions):
            agent.finished.clear()
            await asyncio.wait_for(agent.finished.wait(), args.timeout)
    except TimeoutError:
        print(f"client {args.id}: no session finished in {args.timeout} s", file=sys.stderr)
        return 1
    finally:
        await agent.stop()
        await bus.close()
    for reason in agent.refused:
        print(f"refused: {reason}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of an agent process: serve `--sessions` sessions, then exit 0."""
    return asyncio.run(_serve(_arguments(argv)))


if __name__ == "__main__":
    sys.exit(main())
