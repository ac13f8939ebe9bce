"""The attacker as an actor of its own: a process that runs a seeded attack schedule
against the emulated CNF and tells nobody until the run is over.

An operator's closed loop is never told when an attack begins (`002_…`'s loops run on
whatever the monitoring reports). So the attacker is a separate OS process, sharing no
state with the loop's: it is handed only the *places* of the testbed (`Places`: the
attacker namespaces and their addresses, the server's namespace, the CNF's cgroup, the
service port), the run second from which it may attack (the testbed's bring-up) and a
seed, draws its schedule from the seed itself (`draw_schedule`),
runs it in real time with the attacks of `cnfattacks` (floods and Slowloris from the
attacker namespaces, a CPU hog or a memory leak in the CNF's cgroup), and writes what
it did (`Episode`s with their real start and stop times) to its output file only when
it is stopped. The scoring step reads that file after the run (`cnfloop.score_run`);
the loop's process never holds the schedule. Its attacks hit as hard as the scenario's
own attack would at the run's scale (`scaled_settings`): the CNF is what they load, not
the link to the server.

The schedule has two lanes, network attacks and attacks inside the CNF, each a sequence
of attacks with normal gaps between them; the lanes are independent, so attacks overlap
where the seed makes them, and the gaps are long enough to leave normal time between
attacks, on which false alerts are counted. Kinds, starts and durations are drawn from
the seed, and an attack is *long* with probability `LONG_SHARE`: it lasts past the run's
end, longer than anything the loop can watch to its stop (the loop's horizon). None starts
in the run's last `HORIZON` seconds, too late for any loop to see it.

Run: `python -m secmas.network.emulation.attacker_process PLACES.json OUT.json`; a run
starts it with `HiddenAttacker.launch` (its own session: `AttackerProcess.stop` ends the
whole process group, whatever the run did) and reads what it did from `OUT.json` after.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from secmas.network.attack import sender
from secmas.network.attacks.slowloris import MAX_SLOW_HELD, SLOW_HOLD
from secmas.network.dataplane.stats import BYTES_PER_MB
from secmas.network.emulation.cnfattacks import (
    APPLICATION,
    AttackSettings,
    accept_answers,
    inside_command,
    stress_ng,
)
from secmas.network.emulation.cnfcgroup import GroupedNamespace
from secmas.network.emulation.namespaces import Namespace
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import EmulationPlan
from secmas.network.emulation.workload import MAX_ATTACK_PPS
from secmas.network.incident import inside_kinds
from secmas.processend import end_process

OUTSIDE = ("http_flood", "slowloris", "syn_flood")
"""The network attacks (from the attacker namespaces)."""
LONG_SHARE = 0.15
"""Share of attacks that last past the run's end."""
HORIZON = 10.0
"""Last seconds of a run in which no attack starts: the loop needs some steps to see one
(its window, the persistence, a remedy's effect); an attack may still outlast the run."""


@dataclass(frozen=True)
class Planned:
    """One attack of a schedule: kind and [start, stop) run seconds."""

    kind: str
    start: float
    stop: float


@dataclass(frozen=True)
class Lane:
    """How one lane's attacks are drawn (run seconds)."""

    kinds: tuple[str, ...]
    duration: tuple[float, float]
    gap: tuple[float, float]


LANES = (
    Lane(OUTSIDE, duration=(5.0, 10.0), gap=(14.0, 24.0)),
    Lane(tuple(sorted(inside_kinds())), duration=(5.0, 10.0), gap=(20.0, 32.0)),
)


def draw_schedule(
    seed: int, start: float, end: float, lanes: tuple[Lane, ...] = LANES
) -> list[Planned]:
    """The attacks starting between `start` and `HORIZON` before `end` run seconds, drawn
    from `seed` (module docstring), sorted by start; a long one stops at twice `end`, past
    the run."""
    rng = np.random.default_rng(seed)
    planned = []
    for lane in lanes:
        t = start + rng.uniform(*lane.gap) / 2
        while t <= end - HORIZON:
            long = rng.random() < LONG_SHARE
            stop = 2 * end if long else t + rng.uniform(*lane.duration)
            planned.append(Planned(str(rng.choice(lane.kinds)), round(t, 1), round(stop, 1)))
            t = stop + rng.uniform(*lane.gap)
    return sorted(planned, key=lambda p: p.start)


@dataclass(frozen=True)
class AttackerGroup:
    """An attacker namespace (Mininet shell PID) and the addresses it sends from."""

    name: str
    pid: int
    ips: tuple[str, ...]


@dataclass(frozen=True)
class Places:
    """Where the attacker acts, and nothing about when: what the run hands it."""

    groups: tuple[AttackerGroup, ...]
    server: AttackerGroup
    """The server's namespace (its `ips`: the CNF's address)."""
    cgroup: str
    """The CNF's cgroup (the attacks inside it start there)."""
    port: int
    origin: float
    """Unix time of run second 0."""
    start: float
    """Run seconds from which the attacker may attack (the testbed's bring-up is over)."""
    end: float
    """Run seconds until which the attacker plans."""
    seed: int
    folder: str
    settings: AttackSettings = field(default_factory=AttackSettings)
    """How hard its attacks hit (`scaled_settings`: the run's scale)."""

    @classmethod
    def read(cls, path: Path) -> Places:
        data = json.loads(path.read_text(encoding="utf-8"))
        groups = tuple(AttackerGroup(g["name"], g["pid"], tuple(g["ips"])) for g in data["groups"])
        server = data["server"]
        return cls(
            groups,
            AttackerGroup(server["name"], server["pid"], tuple(server["ips"])),
            data["cgroup"],
            data["port"],
            data["origin"],
            data["start"],
            data["end"],
            data["seed"],
            data["folder"],
            AttackSettings(**data["settings"]),
        )

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")


@dataclass
class Running:
    """An attack under way: what it is, when it began (run s), its processes and the nft
    rules that let its namespaces take answers."""

    planned: Planned
    began: float
    processes: list[subprocess.Popen[bytes]]
    undo: list[tuple[Namespace, str]]


class ScheduledAttacker:
    """Runs a schedule against the places (module docstring)."""

    def __init__(self, places: Places) -> None:
        self.places = places
        self.settings = places.settings
        self.schedule = draw_schedule(places.seed, places.start, places.end)
        self.running: list[Running] = []
        self.done: list[dict[str, object]] = []

    def now(self) -> float:
        return time.time() - self.places.origin

    def run(self) -> None:
        """Start and stop each attack at its time until stopped (SIGTERM) or the plan is
        over; stop whatever still runs."""
        events = [(p.start, True, p) for p in self.schedule] + [
            (p.stop, False, p) for p in self.schedule if p.stop <= self.places.end
        ]
        try:
            for at, starting, planned in sorted(events, key=lambda e: (e[0], e[1])):
                time.sleep(max(0.0, at - self.now()))
                if starting:
                    self._start(planned)
                else:
                    self._stop(planned)
            time.sleep(max(0.0, self.places.end - self.now()))
        finally:  # a second stop request must not cut the record short
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for running in list(self.running):
                self._stop(running.planned)

    def _start(self, planned: Planned) -> None:
        places, kind = self.places, planned.kind
        undo: list[tuple[Namespace, str]] = []
        if kind in inside_kinds():
            server = GroupedNamespace(places.server.name, places.server.pid, places.cgroup)
            log = f"{places.folder}/attacker-{kind}.log"
            processes = [server.spawn(inside_command(kind, self.settings, stress_ng()), log)]
        else:
            processes = []
            for group in places.groups:
                namespace = Namespace(group.name, group.pid)
                if kind in APPLICATION:
                    rule = accept_answers(namespace, group.ips)
                    undo += [] if rule is None else [(namespace, rule)]
                command = self._outside(kind, group)
                log = f"{places.folder}/attacker-{group.name}-{kind}.log"
                processes.append(namespace.spawn(command, log))
        self.running.append(Running(planned, self.now(), processes, undo))

    def _outside(self, kind: str, group: AttackerGroup) -> list[str]:
        share, settings = 1.0 / len(self.places.groups), self.settings
        server, port = self.places.server.ips[0], str(self.places.port)
        sources = ",".join(group.ips)
        module = [sys.executable, "-m", f"secmas.network.emulation.{kind.replace('_', '')}"]
        if kind == "http_flood":
            rate = f"{settings.http_rps * share:.1f}"
            return [*module, server, port, rate, str(settings.http_size), sources]
        if kind == "slowloris":
            count = str(max(1, round(settings.slowloris_connections * share)))
            interval, opening = f"{settings.slowloris_interval:g}", settings.slowloris_opening
            return [*module, server, port, count, interval, sources, f"{opening * share:.1f}"]
        return [*module, server, f"{settings.syn_pps * share:.1f}", port, sources]

    def _stop(self, planned: Planned) -> None:
        running = next(r for r in self.running if r.planned == planned)
        stopped = self.now()
        for process in running.processes:
            end_process(process, grace=1.0)
        for namespace, rule in running.undo:
            namespace.nft(rule)
        self.running.remove(running)
        self.done.append({"kind": planned.kind, "start": running.began, "stop": stopped})

    def episodes(self) -> list[dict[str, object]]:
        """What it did: each attack's kind and real [start, stop) run seconds; an attack
        still running when the plan ended stops at the end (it outlived the run)."""
        return sorted(self.done, key=lambda e: float(e["start"]))  # type: ignore[arg-type]


def scaled_settings(plan: EmulationPlan) -> AttackSettings:
    """The attacks as hard as the scenario's own attack hits at the run's scale
    (`workload.attack_rate`): every attacker's bytes a second (its rate × ports ×
    `plan.scale`), all of them behind the one network attack under way (the lane runs one
    at a time), sent in its units (SYNs, requests, Slowloris connections opened a second,
    `Sender.packet_bytes`) and held to `MAX_ATTACK_PPS` a group; a Slowloris holds what it
    opened in `SLOW_HOLD` seconds, at most `MAX_SLOW_HELD` per attacker of a kind. The bytes are the
    scripted mixed attack's (six attackers, two of each kind), not the recorder's
    full-rate floods that load the link to the server; one kind at a third of them (25
    requests a second on `cnf-emulated`) stays within the normal swing of nginx's
    throughput (its normal recording peaks at 55 a second) and is no attack to see."""
    attackers = [a for g in plan.groups for a in g.attackers]
    if not attackers:
        raise ValueError("the emulated network has no attacker")
    sent = sum(a.rate * len(a.ports) * plan.scale * BYTES_PER_MB for a in attackers)
    cap = MAX_ATTACK_PPS * len([g for g in plan.groups if g.attackers])

    def units(kind: str) -> float:
        return min(cap, sent / sender(kind).packet_bytes)

    opening = units("slowloris")
    held = min(MAX_SLOW_HELD * max(1, len(attackers) // len(OUTSIDE)), opening * SLOW_HOLD)
    return AttackSettings(
        http_rps=units("http_flood"),
        slowloris_connections=max(1, round(held)),
        slowloris_opening=opening,
        syn_pps=units("syn_flood"),
    )


STOP_GRACE = 10.0
"""Seconds the attacker gets to stop its attacks and write what it did."""


@dataclass(frozen=True)
class HiddenAttacker:
    """What a run tells its attacker beside the places: its seed and the run second from
    which it may attack (`start`: the testbed's bring-up, agents deploying)."""

    seed: int
    start: float

    def places(
        self, network: EmulatedNetwork, cgroup: str, port: int, origin: float, end: float
    ) -> Places:
        """The places of `network` (its attacker groups, the server), the CNF's cgroup and
        the service port, for a run that began at Unix time `origin` and ends at `end`."""
        plan = network.plan
        groups = tuple(
            AttackerGroup(g.name, network.namespace(g.name).pid, tuple(a.ip for a in g.attackers))
            for g in plan.groups
            if g.attackers
        )
        if not groups:
            raise ValueError("the emulated network has no attacker namespace")
        server = network.namespace(plan.server)
        return Places(
            groups,
            AttackerGroup(server.name, server.pid, (plan.server_ip,)),
            cgroup,
            port,
            origin,
            self.start,
            end,
            self.seed,
            "",
            scaled_settings(plan),
        )

    def launch(self, places: Places, folder: Path) -> AttackerProcess:
        """Start the attacker process on `places` (its logs and files in `folder`)."""
        folder.mkdir(parents=True, exist_ok=True)
        where, out = folder / "attacker-places.json", folder / "attacker-episodes.json"
        replace(places, folder=str(folder.resolve())).write(where)
        log = (folder / "attacker.log").open("ab")
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(where), str(out)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        finally:
            log.close()
        return AttackerProcess(process, out)


@dataclass(frozen=True)
class AttackerProcess:
    """A running attacker (`HiddenAttacker.launch`) and the file it writes when stopped."""

    process: subprocess.Popen[bytes]
    out: Path

    def stop(self) -> list[dict[str, object]]:
        """Stop it and every process it started (SIGTERM to its group, SIGKILL after
        `STOP_GRACE`); the episodes it wrote (ValueError when it did not write them all)."""
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_GRACE)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # whatever of its group is left
        self.process.wait()
        try:
            written = json.loads(self.out.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"the attacker wrote no episodes to {self.out}: {exc}") from None
        if not written.get("done"):
            raise ValueError(f"the attacker was killed before it wrote its episodes ({self.out})")
        return list(written["episodes"])


def main(argv: list[str]) -> int:
    places, out = Places.read(Path(argv[0])), Path(argv[1])
    attacker = ScheduledAttacker(places)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _write(out, places, [], done=False)  # ready: stopped from now on, it says what it did
    try:
        attacker.run()
    finally:
        _write(out, places, attacker.episodes(), done=True)
    return 0


def _write(out: Path, places: Places, episodes: list[dict[str, object]], done: bool) -> None:
    """What it did (`done`: all of it), written whole (a reader never sees half a file)."""
    partial = out.with_suffix(".part")
    partial.write_text(json.dumps({"seed": places.seed, "done": done, "episodes": episodes}))
    partial.replace(out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
