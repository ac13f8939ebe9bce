"""Agents on several hosts: the host list file and the IML driver that starts agents there.

A host list (YAML) says, per host, where it is, how a command is started there and which
PoPs' agents it runs:

    hosts:
      - name: edge1
        address: 10.0.1.11
        start: ssh -o BatchMode=yes secmas@{address} {command}
        python: /opt/secmas/.venv/bin/python   # default: python3 on the host's PATH
        workdir: /var/lib/secmas               # default: the host's temporary directory
        pops: [pop1, pop2]
      - name: edge2
        address: 10.0.1.12
        start: ssh -o BatchMode=yes secmas@{address} {command}
        # no pops: this host shares the PoPs no host lists, round-robin

Names are unique, and two hosts at one address must be started differently (another ssh
port or user, another namespace): the same address and launch would be one machine twice.
`start` is split like a shell line; the word `{command}` becomes the words of the
command to run on the host, `{address}` and `{name}` the host's fields (`{{` and `}}` for
literal braces). Over ssh the command's words are joined into the remote shell's line, so
`python` and `workdir` are limited to characters no shell treats specially. `local: true`
marks a host that is this machine (a network namespace, a container): its agents' PIDs
are this machine's, so the run's host measurer attests their processes from outside too.

Every other host gets a measurer of its own (`measure_hosts`): the driver starts
`python -m secmas.trust.measurer_service --stdio` there through the host's template
once its agents are up; it makes its key on the host and announces it, SECaaS
registers that key for the host, and the attestation chain consults it, over the
template's pipe, as it consults this machine's (`HostsAttestation`). A remote host must
run the same install at the same paths and the same interpreter build as this machine:
the platform reference and the release reference are this machine's.

`HostProcesses` is the IML driver (`secmas.pipeline.iml.IMLDriver`): for each agent it
runs `python -m secmas.pipeline.hostlaunch` through its host's template and hands the
`secmas agent` launch over on its stdin, secrets and files included, never on a command
line (`secmas.pipeline.hostlaunch` says why). The agent's output comes back into
`workdir/agent-<pop>.log`.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import string
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from secmas.pipeline.hostlaunch import KILL, PID_PREFIX, USER_PREFIX, handover
from secmas.pipeline.iml import AgentLaunch, process_cpu_seconds
from secmas.scenario import yamlfile
from secmas.scenario.loader import FieldPath, Problem, line_of
from secmas.trust.deadlines import Deadlines
from secmas.trust.manifest import ReferenceManifest
from secmas.trust.measurer import MeasurerAppraisal
from secmas.trust.measurer_service import ExternalAttestation, HostMeasurer

COMMAND = "command"
PLACEHOLDERS = (COMMAND, "address", "name")
HOSTLAUNCH = ("-m", "secmas.pipeline.hostlaunch")

_Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
_ShellSafe = Annotated[str, Field(pattern=r"^[A-Za-z0-9_./+:@%=,-]+$", max_length=1024)]
"""Words that mean the same to a shell and to exec: they go into ssh's remote line."""


class HostListError(ValueError):
    """A host list that cannot be used; `problems` name the file, line, field and reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _template_problem(start: str) -> str | None:
    """Why `start` is not a usable start template (None: it is)."""
    try:
        words = shlex.split(start)
    except ValueError as exc:
        return f"cannot be split like a shell line: {exc}"
    if words.count("{command}") != 1:
        return "needs the word {command} exactly once, on its own (e.g. ssh HOST {command})"
    for word in words:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(word) if name is not None}
        except ValueError as exc:
            return f"{word!r}: {exc} (write {{{{ and }}}} for literal braces)"
        unknown = names - set(PLACEHOLDERS)
        if unknown:
            allowed = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            return f"unknown placeholder {{{sorted(unknown)[0]}}}: use {allowed}"
    return None


class Host(BaseModel):
    """One host of the list (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: _Name
    address: Annotated[str, Field(pattern=r"^[^\s{}]+$", max_length=253)]
    start: Annotated[str, Field(min_length=1, max_length=4096)]
    python: _ShellSafe = "python3"
    workdir: _ShellSafe | None = None
    pops: list[_Name] | None = None
    """The PoPs whose agents run here; None: a share of those no host lists."""
    local: bool = False
    """This machine (a namespace or container on it): the run's measurer sees its PIDs."""

    @field_validator("start")
    @classmethod
    def _usable_template(cls, start: str) -> str:
        problem = _template_problem(start)
        if problem is not None:
            raise ValueError(problem)
        return start

    @field_validator("workdir")
    @classmethod
    def _absolute(cls, workdir: str | None) -> str | None:
        if workdir is not None and not workdir.startswith("/"):
            raise ValueError("must be an absolute path on the host")
        return workdir

    def command(self) -> list[str]:
        """The host-side command: the launcher that receives an agent on its stdin."""
        workdir = [] if self.workdir is None else ["--dir", self.workdir]
        return [self.python, *HOSTLAUNCH, *workdir]

    def argv(self) -> list[str]:
        """The local command that runs `command()` on this host, through `start`."""
        return self._through(self.command())

    def start_python(self, args: Sequence[str]) -> list[str]:
        """The local command that runs the host's interpreter with `args` there (its
        measurer: `secmas.trust.measurer_service.StartOn`)."""
        return self._through([self.python, *args])

    def _through(self, command: list[str]) -> list[str]:
        argv: list[str] = []
        for word in shlex.split(self.start):
            if word == f"{{{COMMAND}}}":
                argv += command
            else:
                argv.append(word.format(address=self.address, name=self.name))
        return argv


class HostList(BaseModel):
    """The hosts agents run on, as a host list file gives them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hosts: Annotated[list[Host], Field(min_length=1)]
    _source: str = PrivateAttr(default="<host list>")
    _node: yaml.Node | None = PrivateAttr(default=None)

    def assign(self, pops: Sequence[str]) -> dict[str, Host]:
        """Which host runs each of `pops`: the one that lists it, else the hosts without a
        `pops` list in turn; HostListError when a listed PoP is not among `pops`, or a
        PoP has no host."""
        problems: list[Problem] = []
        pinned: dict[str, Host] = {}
        for index, host in enumerate(self.hosts):
            for number, pop in enumerate(host.pops or ()):
                if pop not in pops:
                    known = ", ".join(pops)
                    self._problem(
                        problems,
                        ("hosts", index, "pops", number),
                        f"{pop} is not a PoP of the scenario ({known})",
                    )
                pinned[pop] = host
        shared = [h for h in self.hosts if h.pops is None]
        rest = [p for p in pops if p not in pinned]
        if rest and not shared:
            self._problem(
                problems,
                ("hosts",),
                f"no host runs {', '.join(rest)}: list them under a host's pops, "
                "or leave one host's pops out to share them",
            )
        if problems:
            raise HostListError(problems)
        return pinned | {pop: shared[i % len(shared)] for i, pop in enumerate(rest)}

    def _problem(self, problems: list[Problem], path: FieldPath, message: str) -> None:
        problems.append(Problem(self._source, path, message, line_of(self._node, path)))


def _address_key(address: str) -> str:
    """One spelling per address, so that `::1` and `0:0::1`, or `Edge1.example.` and
    `edge1.example`, are seen as the one address they are."""
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError:
        return address.lower().removesuffix(".")


def _launch(host: Host) -> tuple[str | None, ...]:
    """How the host is started, apart from its address: the template, the interpreter, the
    folder, and the name when the template uses it (then no two hosts start alike)."""
    named = host.name if "{name}" in host.start else None
    return (host.start, host.python, host.workdir, named)


def _cross_problems(hosts: HostList) -> list[tuple[FieldPath, str]]:
    """What pydantic checks per field cannot: names and PoPs unique across hosts, and no
    machine listed twice. Two hosts at one address started by the same command line are
    one machine (a copied entry whose address was not changed), and the run would place on
    it agents meant to be apart; at one address but started differently (`ssh -p 2201` and
    `-p 2202`, `sudo -u` another user) they are different hosts."""
    problems: list[tuple[FieldPath, str]] = []
    names: dict[str, int] = {}
    places: dict[tuple[str, tuple[str, ...]], Host] = {}
    owners: dict[str, str] = {}
    for index, host in enumerate(hosts.hosts):
        first = places.setdefault((_address_key(host.address), _launch(host)), host)
        if first is not host:
            problems.append(
                (
                    ("hosts", index, "address"),
                    f"{host.name} and {first.name} are both at {host.address} and started "
                    "the same way: one machine listed twice; give each host its own address "
                    "or start command",
                )
            )
        if host.name in names:
            problems.append(
                ((("hosts", index, "name")), f"{host.name} is also host {names[host.name]}")
            )
        names.setdefault(host.name, index)
        for number, pop in enumerate(host.pops or ()):
            if pop in owners:
                problems.append(
                    (("hosts", index, "pops", number), f"{pop} already runs on {owners[pop]}")
                )
            owners.setdefault(pop, host.name)
    return problems


def parse_hosts(text: str, source: str = "<host list>") -> HostList:
    """A host list from YAML text; HostListError naming `source`, line, field and reason."""
    try:
        data, node = yamlfile.load(text)
    except yamlfile.YAMLInputError as exc:
        raise HostListError([Problem(source, exc.path, exc.reason, exc.line)]) from None
    if not isinstance(data, dict):
        raise HostListError([Problem(source, (), "expected a mapping with a hosts: list")])
    try:
        hosts = HostList.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                source,
                tuple(e["loc"]),
                e["msg"].removeprefix("Value error, "),
                line_of(node, tuple(e["loc"])),
            )
            for e in exc.errors()
        ]
        raise HostListError(problems) from None
    crossed = _cross_problems(hosts)
    if crossed:
        raise HostListError([Problem(source, p, m, line_of(node, p)) for p, m in crossed])
    hosts._source, hosts._node = source, node
    return hosts


def load_hosts(path: str | Path) -> HostList:
    """Load and validate a host list file; HostListError naming every problem."""
    try:
        text = yamlfile.read_text(path)
    except yamlfile.YAMLInputError as exc:
        raise HostListError([Problem(str(path), (), exc.reason)]) from None
    return parse_hosts(text, str(path))


@dataclass
class _Remote:
    """One agent's launcher process on its host, seen from here."""

    host: Host
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    pid: int | None = None
    """The agent's PID on its host, once the launcher announced it."""
    user: Any = None
    """Who the agent runs as on its host, as its launcher said (`AgentUser.report`)."""
    reader: threading.Thread | None = None

    def copy_output(self) -> None:
        """The launcher's output into the agent's log; its PID and user lines noted on
        the way."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            text = line.decode(errors="replace")
            if self.pid is None and text.startswith(PID_PREFIX):
                self.pid = int(text.removeprefix(PID_PREFIX))
            elif self.user is None and text.startswith(USER_PREFIX):
                self.user = json.loads(text.removeprefix(USER_PREFIX))
            self.log.write(line)
            self.log.flush()

    def order(self, line: bytes | None) -> None:
        """A line to the launcher (`kill`), or None: end its input (stop the agent)."""
        stdin = self.process.stdin
        if stdin is None or stdin.closed:
            return
        try:
            if line is None:
                stdin.close()
            else:
                stdin.write(line + b"\n")
                stdin.flush()
        except (BrokenPipeError, ValueError):  # the launcher is gone already
            pass

    def wait(self, timeout: float) -> None:
        """Wait for the launcher to end; kill it here after `timeout`."""
        try:
            self.process.wait(max(0.0, timeout))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.reader is not None:
            self.reader.join(timeout=5.0)
        if self.reader is None or not self.reader.is_alive():
            self.log.close()


THIS_MACHINE = "this machine"
"""Where the local hosts' agents are measured: by one measurer here."""


@dataclass
class HostsAttestation:
    """The attestation chain's check from outside (`secmas.pipeline.iml.OutsideCheck`) for
    agents on several hosts: each agent's by the measurer of the host it runs on, this
    machine's for the `local` ones (module docstring)."""

    measurers: dict[str, ExternalAttestation]
    """Each host's measurer use, by host name (`THIS_MACHINE` for the local hosts)."""
    places: dict[str, str]
    """Each agent's host name, a key of `measurers`."""

    async def check(self, agent: str) -> MeasurerAppraisal:
        place = self.places.get(agent)
        if place is None:
            return MeasurerAppraisal(False, (f"no host known for {agent}",))
        return await self.measurers[place].check(agent)

    def report(self) -> dict[str, object]:
        """The run report's view: the sums over hosts, then each host's measurer."""
        results = [(a, r) for m in self.measurers.values() for a, r in m.results]
        return {
            "measured_by": "a measurer on each host, its key registered by SECaaS",
            "checks": len(results),
            "measurements": sum(m.measurements for m in self.measurers.values()),
            "unanswered": sum(1 for _, r in results if r.measurer_down),
            "failed": [
                {"agent": a, "reasons": list(r.reasons[:5])} for a, r in results if not r.passed
            ],
            "tolerated": sorted({note for _, r in results for note in r.notes})[:5],
            "hosts": {name: m.report() for name, m in self.measurers.items()},
        }

    def stop(self) -> None:
        for measurer in self.measurers.values():
            measurer.stop()


@dataclass
class HostProcesses:
    """The IML driver for a host list: each agent started on the host `hosts.assign`
    picks, through its start template (module docstring), its log in `workdir`."""

    hosts: HostList
    workdir: Path
    pops: Sequence[str]
    name: str = "hosts"
    stop_timeout: float = 10.0
    """How long a stopped launcher may take (the agent's own grace is 5 s)."""
    assignment: dict[str, Host] = field(init=False)
    remotes: dict[str, _Remote] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.assignment = self.hosts.assign(self.pops)

    def start(self, launch: AgentLaunch) -> None:
        """Start `launch.pop`'s launcher on its host and hand the launch over; the local
        enrolment credential is removed once handed over (it now lives on the host)."""
        host = self.assignment[launch.pop]
        line = handover(launch)
        log = self._log(launch.pop).open("wb")
        process = subprocess.Popen(
            host.argv(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        remote = _Remote(host, process, log)
        remote.reader = threading.Thread(
            target=remote.copy_output, name=f"agent-log:{launch.pop}", daemon=True
        )
        remote.reader.start()
        self.remotes[launch.pop] = remote
        remote.order(line.rstrip(b"\n"))
        if launch.enrolment is not None:
            launch.enrolment.unlink(missing_ok=True)

    def dead(self) -> list[str]:
        return [p for p, r in self.remotes.items() if r.process.poll() is not None]

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds each agent on this machine has spent so far, with its launcher's
        (`secmas.pipeline.iml.ReportsWork`): the bring-up's wait follows agents that start
        slowly on a busy host while they work. A remote host's agent is not read: its PID
        means nothing here."""
        spent = {}
        for pop, remote in self.remotes.items():
            if not remote.host.local:
                continue
            pids = [remote.process.pid] + ([remote.pid] if remote.pid is not None else [])
            seconds = [s for pid in pids if (s := process_cpu_seconds(pid)) is not None]
            if seconds:
                spent[pop] = sum(seconds)
        return spent

    def log_tail(self, agent: str, size: int = 800) -> str:
        log = self._log(agent)
        return log.read_text(errors="replace")[-size:] if log.exists() else ""

    def kill(self, agent: str) -> None:
        """As a crash would: the launcher SIGKILLs the agent on its host."""
        remote = self.remotes[agent]
        remote.order(KILL)
        try:
            remote.process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            remote.process.kill()  # its host's launcher then sees its input end
            remote.process.wait()

    def stop_all(self) -> None:
        """End every launcher's input (each stops its agent), then wait for them all."""
        for remote in self.remotes.values():
            remote.order(None)
        deadline = time.monotonic() + self.stop_timeout
        for remote in self.remotes.values():
            remote.wait(deadline - time.monotonic())

    def describe(self) -> dict[str, Any]:
        """The driver, each agent's host and user there and, when every host is this
        machine, the agents' PIDs (for the run's host measurer; a remote PID means nothing
        here)."""
        described: dict[str, Any] = {
            "driver": self.name,
            "hosts": {p: r.host.name for p, r in self.remotes.items()},
            "agent_users": {p: r.user for p, r in self.remotes.items() if r.user is not None},
        }
        pids = {p: r.pid for p, r in self.remotes.items() if r.pid is not None}
        if self.remotes and all(r.host.local for r in self.remotes.values()):
            described["pids"] = pids
        return described

    def measure_hosts(
        self, manifest: ReferenceManifest, deadlines: Deadlines | None = None
    ) -> HostsAttestation | None:
        """A measurer on each remote host agents run on and one here for the local ones,
        each ready and registered (module docstring); None when every host is local (the
        run's host measurer sees them all: `describe`'s PIDs). MeasurerError when a
        remote measurer announces no key."""
        if all(r.host.local for r in self.remotes.values()):
            return None
        secaas = Ed25519PrivateKey.generate()  # signs the platform reference, registers keys
        places = {p: THIS_MACHINE if r.host.local else r.host.name for p, r in self.remotes.items()}
        measurers: dict[str, ExternalAttestation] = {}
        try:
            for place in dict.fromkeys(places.values()):
                host = None if place == THIS_MACHINE else self._host(place)
                measurer = None if host is None else self._remote_measurer(host)
                external = ExternalAttestation.start(
                    None, secaas, manifest, host=measurer, deadlines=deadlines
                )
                measurers[place] = external
                external.pids.update(
                    {p: r.pid for p, r in self.remotes.items() if places[p] == place and r.pid}
                )
        except BaseException:
            HostsAttestation(measurers, places).stop()
            raise
        return HostsAttestation(measurers, places)

    def _host(self, name: str) -> Host:
        return next(h for h in self.hosts.hosts if h.name == name)

    def _remote_measurer(self, host: Host) -> HostMeasurer:
        return HostMeasurer.remote(host.start_python, self.workdir, host.name)

    def _log(self, agent: str) -> Path:
        return self.workdir / f"agent-{agent}.log"
