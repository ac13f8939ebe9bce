"""Real MTD moves on the emulated network: application-level migration of CNF instances.

CRIU cannot run on these machines (its vdso check fails), so a CNF (`kvcnf.py`, a
key/value service with real state) migrates at the application level; its state crosses
the emulated network from its PoP's address to the destination's over the real, shaped
links (`mobility.py`):

- **cold** (stop, copy, start): the source freezes (stops serving and writing), an
  instance starts at the destination and pulls the whole state, serves, and the CNF's
  address moves to it; the source stops.
- **pre-copy**: an instance starts at the destination and pulls the whole state while the
  source still serves (and its writer keeps dirtying it), then pulls what changed during
  the previous round until a round brings little (`PreCopy`); then the source freezes,
  the destination pulls the last changes (stop-and-copy), serves, and the address moves.
- **post-copy**: the source freezes, an instance starts at the destination, takes the
  names of every key (no values), serves at once, and the address moves; a request for a
  key that has not arrived fetches it from the frozen source (a page fault), and every
  value follows in the background; the source stops once all have arrived.
- **hybrid**: one pre-copy round while the source serves, then post-copy of what changed
  during it.

The address moves by `ip` in every router namespace at once (added at the destination's
loopback, re-routed everywhere else). The digest of the state the destination received
must equal the frozen source's, or the move fails and the source serves again (routed
back to it if the address had moved).

Downtime and total time are measured by a probe (`probe.py`) that sends requests to
every moving CNF's address at a fixed short interval from a client namespace; see
`outage.py` for how its log becomes the figures.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

from secmas.network.dataplane.routing import Network
from secmas.network.emulation.errors import EmulationFailed
from secmas.network.emulation.mobility import (
    StateShape,
    check_free,
    cnf_address,
    path_bytes_per_s,
    pop_addresses,
    route_commands,
    routes_towards,
)
from secmas.network.emulation.namespaces import CommandFailed
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.outage import ProbeRecord, downtime, first_answer, parse_probe_log

COLD = "cold"
PRECOPY = "pre-copy"
POSTCOPY = "post-copy"
HYBRID = "hybrid"
MIGRATIONS = (COLD, PRECOPY, POSTCOPY, HYBRID)
PROBE_INTERVAL = 0.02
PROBE_TIMEOUT = 1.0
READY_TIMEOUT = 10.0
SERVED_TIMEOUT = 5.0
CONTROL_TIMEOUT = 60.0
"""Longest wait for a CNF instance's answer on its control socket: far above any state
transfer of an emulated run, so only a hung instance reaches it."""
TRANSFER_SHARE = 0.8
"""Share of the path's narrowest link a transfer may take (the rest: the CNF's traffic)."""


class MigrationFailed(EmulationFailed):
    """A move could not be carried out (the text says at which step); the CNF still
    serves at its source."""


@dataclass(frozen=True)
class PreCopy:
    """Pre-copy's stop rule: rounds until one brings at most `stop_share` of the first
    round's bytes, at most `max_rounds` rounds while serving."""

    max_rounds: int = 4
    stop_share: float = 0.05


@dataclass(frozen=True)
class MobileCNF:
    """A CNF that moves: its id, the PoP it starts at and its state."""

    id: str
    pop: str
    shape: StateShape


@dataclass
class MoveResult:
    """One move as it really happened, with its measured figures."""

    cnf: str
    source: str
    destination: str
    migration: str
    started: float
    """Unix time the move started."""
    switched: float
    """Unix time the destination served and every node routed the address to it."""
    downtime_s: float
    """The clients' downtime: the probe's longest outage (`outage.py`)."""
    total_s: float
    """Move start → the first probe request the destination answered, with its state."""
    frozen_s: float = 0.0
    """The service side of the downtime: source frozen → destination routed (run's clock)."""
    served: bool = True
    """The probe saw the destination answer within `SERVED_TIMEOUT` of the switch."""
    rounds: list[dict[str, Any]] = field(default_factory=list)
    """Every pull: bytes, entries, seconds, and whether the source still served."""
    state_bytes: int = 0
    state_keys: int = 0
    state_verified: bool = False
    """The destination's digest equals the frozen source's."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Running:
    """One live instance of a CNF."""

    name: str
    pop: str
    process: Popen[bytes]
    control: Path
    transfer_port: int = 0


class Control:
    """A JSON-lines connection to an instance's control socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, path: Path, process: Popen[bytes], timeout: float) -> Control:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return cls(*await asyncio.open_unix_connection(str(path)))
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise MigrationFailed(f"CNF instance {path.stem} did not start") from None
                await asyncio.sleep(0.02)

    async def ask(self, op: str, **args: Any) -> dict[str, Any]:
        try:
            async with asyncio.timeout(CONTROL_TIMEOUT):
                self.writer.write(json.dumps({"op": op, **args}).encode() + b"\n")
                await self.writer.drain()
                line = await self.reader.readline()
        except TimeoutError:
            raise MigrationFailed(
                f"control {op}: no answer from the instance in {CONTROL_TIMEOUT:.0f} s"
            ) from None
        if not line:
            raise MigrationFailed(f"control {op}: the instance closed the connection")
        try:
            answer = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MigrationFailed(f"control {op}: not a JSON answer: {exc.msg}") from None
        if not isinstance(answer, dict):
            raise MigrationFailed(f"control {op}: expected a JSON object, got {line[:80]!r}")
        if "error" in answer:
            raise MigrationFailed(f"control {op}: {answer['error']}")
        return answer

    def close(self) -> None:
        self.writer.close()


class MobileCNFs:
    """The moving CNFs of one emulated run, their probe, and their moves."""

    def __init__(
        self,
        network: EmulatedNetwork,
        topology: Network,
        workdir: Path | None = None,
        probe_interval: float = PROBE_INTERVAL,
        precopy: PreCopy = PreCopy(),
        transfer_share: float | None = TRANSFER_SHARE,
    ) -> None:
        self.network = network
        self.plan = network.plan
        self.topology = topology
        check_free(self.plan)
        self._own_dir = workdir is None
        # control sockets need a short path (108 bytes)
        self.workdir = Path(tempfile.mkdtemp(prefix="secmas-cnf-")) if workdir is None else workdir
        self.probe_interval = probe_interval
        self.precopy = precopy
        self.transfer_share = transfer_share
        self.token = secrets.token_hex(16)
        self.pops = pop_addresses(self.plan)
        self.cnfs: dict[str, MobileCNF] = {}
        self.addresses: dict[str, str] = {}
        self.port: dict[str, int] = {}
        self.instances: dict[str, Running] = {}
        self._controls: dict[str, Control] = {}
        self._serial = 0
        self._probe: Popen[bytes] | None = None
        self.probe_log = self.workdir / "probe.jsonl"
        self.moves: list[MoveResult] = []

    def where(self, cnf: str) -> str:
        """The PoP the CNF runs at now."""
        return self.instances[cnf].pop

    # -- start and stop -------------------------------------------------------------------
    async def start(self, cnfs: Sequence[MobileCNF]) -> None:
        """PoP addresses and routes, one serving instance per CNF, then the probe."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        await self._route_all(
            {address: routes_towards(self.plan, self.topology, pop)}
            for pop, address in self.pops.items()
        )
        for index, cnf in enumerate(cnfs):
            self.cnfs[cnf.id] = cnf
            self.addresses[cnf.id] = cnf_address(index)
            running, control = await self._launch(cnf, cnf.pop, seeded=True)
            self.port[cnf.id] = int((await control.ask("status"))["service_port"])
            self.instances[cnf.id], self._controls[cnf.id] = running, control
        await self._route_all(
            {self.addresses[c.id]: routes_towards(self.plan, self.topology, c.pop)} for c in cnfs
        )
        self._start_probe()

    def stop(self) -> None:
        """Stop the probe and every instance; remove the run's sockets (idempotent)."""
        for control in self._controls.values():
            control.close()
        self._controls.clear()
        if self._probe is not None:
            self.network.end(self._probe)
            self._probe = None
        for running in self.instances.values():
            self.network.end(running.process)
        self.instances.clear()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _start_probe(self) -> None:
        group = next((g for g in self.plan.groups if g.clients), None)
        if group is None:
            raise MigrationFailed("no client namespace to probe the moving CNFs from")
        spec = {
            "source": group.clients[0].ip,
            "interval": self.probe_interval,
            "timeout": PROBE_TIMEOUT,
            "targets": [
                {"cnf": c, "address": self.addresses[c], "port": self.port[c]} for c in self.cnfs
            ],
        }
        path = self.workdir / "probe.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        self._probe = self.network.spawn(
            self.network.namespace(group.name),
            [*_module("probe"), str(path), str(self.probe_log)],
            str(self.workdir / "probe.log"),
        )

    async def _launch(self, cnf: MobileCNF, pop: str, seeded: bool) -> tuple[Running, Control]:
        """Start an instance of `cnf` at `pop` (seeded: with its initial state, serving)."""
        self._serial += 1
        name = f"{cnf.id}@{pop}#{self._serial}"
        control = self.workdir / f"{self._serial}.sock"
        shape = cnf.shape
        config = {
            "name": name,
            "address": self.addresses[cnf.id],
            "pop_address": self.pops[pop],
            "control": str(control),
            "token": self.token,
            "sessions": shape.sessions,
            "seed_state": seeded,
            "value_bytes": shape.value_bytes,
            "working_set": shape.working_set,
            "dirty_bytes_per_s": shape.dirty_bytes_per_s,
            "log_bytes_per_s": shape.log_bytes_per_s,
            "serve_port": 0 if seeded else None,
            "seed": self._serial,
        }
        path = self.workdir / f"{self._serial}.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        process = self.network.spawn(
            self.network.namespace(pop),
            [*_module("kvcnf"), str(path)],
            str(self.workdir / f"{self._serial}.log"),
        )
        client = await Control.connect(control, process, READY_TIMEOUT)
        status = await client.ask("status")
        return Running(name, pop, process, control, int(status["transfer_port"])), client

    # -- moves ----------------------------------------------------------------------------
    async def move(self, cnf: str, destination: str, migration: str) -> MoveResult:
        """Move `cnf` to `destination` by `migration` and measure it. MigrationFailed
        leaves the CNF serving where it was (with the source's state)."""
        if migration not in MIGRATIONS:
            raise ValueError(f"migration {migration!r}: choose one of {', '.join(MIGRATIONS)}")
        source = self.instances[cnf]
        if destination == source.pop or destination not in self.pops:
            raise ValueError(f"cannot move {cnf} from {source.pop} to {destination!r}")
        started = time.time()
        rounds: list[dict[str, Any]] = []
        old = self._controls[cnf]
        running: Running | None = None
        routed = False
        try:
            frozen_at = time.time()
            if migration == COLD:
                await old.ask("freeze")
            running, new = await self._launch(self.cnfs[cnf], destination, seeded=False)
            origin = f"{self.pops[source.pop]}:{source.transfer_port}"
            rate = self._rate(source.pop, destination)
            since = 0
            if migration in (PRECOPY, HYBRID):
                since = await self._precopy(new, origin, rate, rounds, once=migration == HYBRID)
            if migration != COLD:
                frozen_at = time.time()
                await old.ask("freeze")
            frozen = await old.ask("status")
            if migration in (COLD, PRECOPY):
                last = await new.ask("pull", source=origin, since=since, rate=rate)
                rounds.append(last | {"serving": False})
                got = await new.ask("serve", port=self.port[cnf])
                _check_state(cnf, destination, got["digest"], frozen)
                await self._route_all([{self.addresses[cnf]: self._routes(destination)}])
                routed = True
                switched = completed = time.time()
            else:
                lazy = await new.ask(
                    "lazy", source=origin, since=since, port=self.port[cnf], rate=rate
                )
                rounds.append(lazy | {"serving": False})
                await self._route_all([{self.addresses[cnf]: self._routes(destination)}])
                routed = True
                switched = time.time()
                got = await new.ask("complete")
                rounds.append(
                    {
                        "bytes": got["received_bytes"],
                        "faults": got["faults"],
                        "seconds": got["seconds"],
                        "serving": True,
                    }
                )
                completed = time.time()
                _check_state(cnf, destination, got["source_digest"], frozen)
        except BaseException as exc:
            if running is not None:
                self.network.end(running.process)
            if isinstance(exc, Exception):  # the source serves again, where it is routed
                if routed:
                    await self._route_all([{self.addresses[cnf]: self._routes(source.pop)}])
                await old.ask("serve", port=self.port[cnf])
            raise
        old.close()
        self.network.end(source.process)
        source.control.unlink(missing_ok=True)
        self.instances[cnf], self._controls[cnf] = running, new
        result = await self._measure(
            cnf, (source.pop, destination), migration, started, (switched, completed)
        )
        result.rounds = rounds
        result.frozen_s = switched - frozen_at
        result.state_bytes, result.state_keys = int(got["bytes"]), int(got["keys"])
        result.state_verified = True
        self.moves.append(result)
        return result

    def _rate(self, source: str, destination: str) -> float | None:
        """Bytes a second a transfer source→destination may take (None: unpaced)."""
        if self.transfer_share is None:
            return None
        path = path_bytes_per_s(self.plan, self.topology, source, destination)
        return self.transfer_share * path

    async def _precopy(
        self,
        new: Control,
        origin: str,
        rate: float | None,
        rounds: list[dict[str, Any]],
        once: bool = False,
    ) -> int:
        """Pull while the source serves, until a round brings little (`once`: one round,
        hybrid's pre-dump); the version reached."""
        since, first = 0, None
        for _ in range(1 if once else self.precopy.max_rounds):
            pulled = await new.ask("pull", source=origin, since=since, rate=rate)
            rounds.append(pulled | {"serving": True})
            since = int(pulled["version"])
            first = pulled["bytes"] if first is None else first
            if since and pulled["bytes"] <= self.precopy.stop_share * max(first, 1):
                break
        return since

    def _routes(self, pop: str) -> list[Any]:
        return routes_towards(self.plan, self.topology, pop)

    async def _route_all(self, batches: Any) -> None:
        """Apply {address: routes} to every node, one `ip -batch` per node, all at once."""
        per_node: dict[str, list[str]] = {}
        for batch in batches:
            for address, routes in batch.items():
                for route in routes:
                    per_node.setdefault(route.node, []).extend(route_commands(route, address))
        try:
            await asyncio.gather(
                *(
                    self.network.namespace(node).run_async(
                        ["ip", "-batch", "-"], stdin="\n".join(lines) + "\n"
                    )
                    for node, lines in per_node.items()
                )
            )
        except CommandFailed as exc:
            raise MigrationFailed(f"routing: {exc}") from None

    async def _measure(
        self,
        cnf: str,
        pops: tuple[str, str],
        migration: str,
        started: float,
        done: tuple[float, float],
    ) -> MoveResult:
        """Wait (up to `SERVED_TIMEOUT`) for the probe to see the destination answer; the
        move's figures. `done`: when the address was routed to the destination, and when
        its state was complete there (later for post-copy and hybrid, whose values follow
        the switch)."""
        name = self.instances[cnf].name
        switched, completed = done
        deadline = time.monotonic() + SERVED_TIMEOUT
        while True:
            records = self.records(cnf)
            served = first_answer(records, name, started)
            if served is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(self.probe_interval)
        # no answer from the destination in time: the clients are still cut off, so the
        # move's downtime and total run to now (and `served` says so)
        answered = time.time() if served is None else served.answered
        until = max(completed, answered if served is None else served.t)
        return MoveResult(
            cnf=cnf,
            source=pops[0],
            destination=pops[1],
            migration=migration,
            started=started,
            switched=switched,
            downtime_s=downtime(records, started, until),
            total_s=max(answered, completed) - started,
            served=served is not None,
        )

    def records(self, cnf: str | None = None) -> list[ProbeRecord]:
        """The probe's records so far (of one CNF)."""
        if not self.probe_log.exists():
            return []
        with self.probe_log.open(encoding="utf-8") as log:
            records = parse_probe_log(log)
        return [r for r in records if cnf is None or r.cnf == cnf]


def _check_state(cnf: str, destination: str, got: str, frozen: dict[str, Any]) -> None:
    """MigrationFailed unless the state that arrived is the frozen source's."""
    if got != frozen["digest"]:
        raise MigrationFailed(
            f"{cnf}: the state that reached {destination} differs from the frozen source's "
            f"({frozen['keys']} keys, digest {frozen['digest'][:12]}…)"
        )


def _module(name: str) -> list[str]:
    return [sys.executable, "-m", f"secmas.network.emulation.{name}"]
