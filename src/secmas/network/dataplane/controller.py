"""The SDN controller the VNFs drive switches through and read statistics from.

A VNF never holds the network: it asks a controller to install or remove a rule, to
report link rates, per-destination history and per-flow counters (as an OpenFlow
controller would) and to apply an enforcement action to a CNF (`remedy`).
`LocalController` answers from a `DataPlane` in the same process; `RemoteController`
asks a `ControllerService` over the bus, so agents in other processes or on other hosts
act on the same network. The service serves any `Controller`: the simulator's through a
`LocalController`, or an emulated network's (`secmas.network.emulation.controller`),
whose rules are nftables in real namespaces.

Wire format (JSON over request/reply, subject `secmas.controller.<pipeline>`):
request `{"op": NAME, "args": {...}}`, answer `{"ok": RESULT}` or `{"error": TEXT}`.
Rules and flow statistics are encoded by `rule_to_json` / `stats_to_json`. A VNF's image
pull and its workload's start and stop take seconds on a real network: the service
answers `{"done": true, "result": …}` (or `"error"`) when they end at once, as on the
simulator, and otherwise a ticket, `{"done": false, "ticket": …}`, runs them beside its
other requests and answers `outcome` for the ticket the same way until they end.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Coroutine
from dataclasses import asdict
from typing import Any, Protocol

from secmas.network.dataplane.rules import (
    FlowBlock,
    IpRateLimit,
    LinkRateLimit,
    Rule,
    Steer,
    TrafficSplit,
)
from secmas.network.dataplane.simulator import DataPlane
from secmas.network.dataplane.stats import Counters, FlowId, FlowStats
from secmas.transport.bus import Bus, Subscription
from secmas.transport.nesting import too_deep

logger = logging.getLogger(__name__)

MAX_DEPTH = 8
POLL_S = 0.25
"""How often a remote caller asks after an operation that runs beside the service."""


class ControllerError(RuntimeError):
    """The controller refused or could not answer a request (the reason is its text)."""


class Controller(Protocol):
    """What VNFs need from the network."""

    @property
    def server_ip(self) -> str: ...

    @property
    def step_seconds(self) -> float: ...

    async def now(self) -> float: ...

    async def rate(self, a: str, b: str) -> float: ...

    async def load(self, a: str, b: str) -> float: ...

    async def add_rule(self, rule: Rule) -> int: ...

    async def remove_rule(self, rule_id: int) -> None: ...

    async def ingress(self, src_ip: str) -> str: ...

    async def flows_via(
        self, node: str, dst_ip: str | None = None, part: int | None = None
    ) -> list[FlowStats]: ...

    async def destination_rates(self, node: str) -> dict[str, list[float]]: ...

    async def remedy(self, cnf: str, remedy: str, pop: str, downtime: float = 0.0) -> None: ...

    async def pull_image(self, pop: str, vnf: str, estimated_s: float) -> float | None:
        """Download `vnf`'s image to `pop` for a bid whose T was `estimated_s`: the seconds
        the pull took, or None where the engine models downloads (the caller waits T)."""
        ...

    async def start_vnf(self, instance: str, pop: str, vnf: str) -> None:
        """Run a new VNF instance as a workload in its PoP (nothing where VNFs are modelled)."""
        ...

    async def stop_vnf(self, instance: str) -> None:
        """Stop an instance's workload (nothing where there is none)."""
        ...


class LocalController:
    """A controller on a data plane in this process: answers at once, never suspends, so
    an in-process run is exactly as deterministic as calling the plane directly."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    @property
    def server_ip(self) -> str:
        return self.plane.server_ip

    @property
    def step_seconds(self) -> float:
        return self.plane.step_seconds

    async def now(self) -> float:
        return self.plane.now

    async def rate(self, a: str, b: str) -> float:
        return self.plane.rate(a, b)

    async def load(self, a: str, b: str) -> float:
        return self.plane.load(a, b)

    async def add_rule(self, rule: Rule) -> int:
        return self.plane.add_rule(rule)

    async def remove_rule(self, rule_id: int) -> None:
        self.plane.remove_rule(rule_id)

    async def ingress(self, src_ip: str) -> str:
        return self.plane.ingress(src_ip)

    async def flows_via(
        self, node: str, dst_ip: str | None = None, part: int | None = None
    ) -> list[FlowStats]:
        return self.plane.flows_via(node, dst_ip, part)

    async def destination_rates(self, node: str) -> dict[str, list[float]]:
        return self.plane.destination_rates(node)

    async def remedy(self, cnf: str, remedy: str, pop: str, downtime: float = 0.0) -> None:
        self.plane.remedy(cnf, remedy, pop, downtime)

    async def pull_image(self, pop: str, vnf: str, estimated_s: float) -> float | None:
        return None  # the simulator models downloads: the bidder waits its T

    async def start_vnf(self, instance: str, pop: str, vnf: str) -> None:
        return None

    async def stop_vnf(self, instance: str) -> None:
        return None


# -- codec ---------------------------------------------------------------------------------

_RULES: dict[str, type[Rule]] = {
    cls.__name__: cls for cls in (LinkRateLimit, IpRateLimit, FlowBlock, TrafficSplit, Steer)
}


def rule_to_json(rule: Rule) -> dict[str, Any]:
    """A rule as `{"kind": class name, fields…}`."""
    return {"kind": type(rule).__name__, **asdict(rule)}


def rule_from_json(data: Any) -> Rule:
    """The rule `rule_to_json` wrote; ValueError naming what is wrong otherwise."""
    if not isinstance(data, dict) or data.get("kind") not in _RULES:
        raise ValueError(f"not a rule: {str(data)[:80]}")
    fields = {k: v for k, v in data.items() if k != "kind"}
    if "via" in fields:
        via = fields["via"]
        if not isinstance(via, list) or not all(isinstance(node, str) for node in via):
            raise ValueError(f"rule {data['kind']}: via must be a list of node names")
        fields["via"] = tuple(via)  # JSON has no tuples
    try:
        return _RULES[data["kind"]](**fields)
    except TypeError as exc:
        raise ValueError(f"rule {data['kind']}: {exc}") from None


def stats_to_json(stats: FlowStats) -> dict[str, Any]:
    return asdict(stats)


def stats_from_json(data: dict[str, Any]) -> FlowStats:
    return FlowStats(
        flow=FlowId(**data["flow"]),
        node=str(data["node"]),
        part=data["part"],
        last=Counters(**data["last"]),
        window=Counters(**data["window"]),
        total=Counters(**data["total"]),
    )


def _ended(task: asyncio.Task[Any]) -> dict[str, Any]:
    """A finished operation's outcome: its result, or its error in words."""
    error = task.exception()
    if error is not None:
        return {"done": True, "error": f"{type(error).__name__}: {error}"}
    return {"done": True, "result": task.result()}


def controller_subject(pipeline: str) -> str:
    return f"secmas.controller.{pipeline}"


class ControllerService:
    """Serves a controller's API on the bus (the remote side of the VNFs). A request the
    controller refuses (`ControllerError`, or a malformed one) is answered with its
    reason and counted in `refused`."""

    def __init__(self, controller: Controller, bus: Bus, pipeline: str) -> None:
        self.controller = controller
        self.bus = bus
        self.pipeline = pipeline
        self.refused = 0
        self._sub: Subscription | None = None
        self._work: dict[str, asyncio.Task[Any]] = {}
        self._tickets = itertools.count(1)
        """Pulls and workload starts under way, by ticket: they take seconds, and the
        service answers one request at a time, so they run beside it and are asked after
        (`pulled`)."""

    async def start(self) -> None:
        self._sub = await self.bus.subscribe(controller_subject(self.pipeline), self._serve)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        for task in self._work.values():
            task.cancel()
        self._work.clear()

    async def _beside(self, work: Coroutine[Any, Any, Any]) -> dict[str, Any]:
        """Start `work` beside the service: its outcome when it ended at once (a simulator
        models what a real engine does in seconds), else a ticket to ask after."""
        task = asyncio.ensure_future(work)
        await asyncio.sleep(0)
        if task.done():
            return _ended(task)
        ticket = f"w{next(self._tickets)}"
        self._work[ticket] = task
        return {"done": False, "ticket": ticket}

    def _outcome(self, ticket: str) -> dict[str, Any]:
        """Where the work of `ticket` stands; once done, its result or error (then the
        ticket is forgotten)."""
        task = self._work.get(ticket)
        if task is None:
            raise ValueError(f"no work under ticket {ticket!r}")
        if not task.done():
            return {"done": False, "ticket": ticket}
        del self._work[ticket]
        return _ended(task)

    async def _serve(self, _subject: str, data: bytes) -> bytes:
        try:
            text = data.decode()
            if too_deep(text, MAX_DEPTH):
                raise ValueError("request nested too deeply")
            request = json.loads(text)
            result = await self._call(request["op"], request.get("args") or {})
        except (KeyError, TypeError, ValueError, UnicodeDecodeError, ControllerError) as exc:
            self.refused += 1
            return json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
        return json.dumps({"ok": result}).encode()

    async def _call(self, op: str, args: dict[str, Any]) -> Any:
        controller = self.controller
        match op:
            case "now":
                return await controller.now()
            case "rate":
                return await controller.rate(str(args["a"]), str(args["b"]))
            case "load":
                return await controller.load(str(args["a"]), str(args["b"]))
            case "add_rule":
                return await controller.add_rule(rule_from_json(args["rule"]))
            case "remove_rule":
                await controller.remove_rule(int(args["id"]))
                return None
            case "ingress":
                return await controller.ingress(str(args["src_ip"]))
            case "flows_via":
                flows = await controller.flows_via(
                    str(args["node"]), args.get("dst_ip"), args.get("part")
                )
                return [stats_to_json(s) for s in flows]
            case "destination_rates":
                return await controller.destination_rates(str(args["node"]))
            case "remedy":
                await controller.remedy(
                    str(args["cnf"]),
                    str(args["remedy"]),
                    str(args["pop"]),
                    float(args.get("downtime", 0.0)),
                )
                return None
            case "pull_image":
                pop, vnf = str(args["pop"]), str(args["vnf"])
                return await self._beside(
                    controller.pull_image(pop, vnf, float(args["estimated_s"]))
                )
            case "start_vnf":
                instance, pop, vnf = str(args["instance"]), str(args["pop"]), str(args["vnf"])
                return await self._beside(controller.start_vnf(instance, pop, vnf))
            case "stop_vnf":
                return await self._beside(controller.stop_vnf(str(args["instance"])))
            case "outcome":
                return self._outcome(str(args["ticket"]))
            case "info":
                return {"server_ip": controller.server_ip, "step_seconds": controller.step_seconds}
        raise ValueError(f"unknown operation {op!r}")


class RemoteController:
    """A controller reached over the bus (agents in their own processes)."""

    def __init__(
        self, bus: Bus, pipeline: str, server_ip: str, step_seconds: float, timeout: float = 5.0
    ):
        self.bus = bus
        self.pipeline = pipeline
        self._server_ip = server_ip
        self._step = step_seconds
        self.timeout = timeout

    @property
    def server_ip(self) -> str:
        return self._server_ip

    @property
    def step_seconds(self) -> float:
        return self._step

    async def _ask(self, op: str, **args: Any) -> Any:
        request = json.dumps({"op": op, "args": args}).encode()
        answer = json.loads(
            await self.bus.request(controller_subject(self.pipeline), request, self.timeout)
        )
        if "error" in answer:
            raise ControllerError(f"controller refused {op}: {answer['error']}")
        return answer["ok"]

    async def now(self) -> float:
        return float(await self._ask("now"))

    async def rate(self, a: str, b: str) -> float:
        return float(await self._ask("rate", a=a, b=b))

    async def load(self, a: str, b: str) -> float:
        return float(await self._ask("load", a=a, b=b))

    async def add_rule(self, rule: Rule) -> int:
        return int(await self._ask("add_rule", rule=rule_to_json(rule)))

    async def remove_rule(self, rule_id: int) -> None:
        await self._ask("remove_rule", id=rule_id)

    async def ingress(self, src_ip: str) -> str:
        return str(await self._ask("ingress", src_ip=src_ip))

    async def flows_via(
        self, node: str, dst_ip: str | None = None, part: int | None = None
    ) -> list[FlowStats]:
        rows = await self._ask("flows_via", node=node, dst_ip=dst_ip, part=part)
        return [stats_from_json(r) for r in rows]

    async def destination_rates(self, node: str) -> dict[str, list[float]]:
        rates = await self._ask("destination_rates", node=node)
        return {str(k): [float(x) for x in v] for k, v in rates.items()}

    async def remedy(self, cnf: str, remedy: str, pop: str, downtime: float = 0.0) -> None:
        await self._ask("remedy", cnf=cnf, remedy=remedy, pop=pop, downtime=downtime)

    async def pull_image(self, pop: str, vnf: str, estimated_s: float) -> float | None:
        seconds = await self._beside("pull_image", pop=pop, vnf=vnf, estimated_s=estimated_s)
        return None if seconds is None else float(seconds)

    async def start_vnf(self, instance: str, pop: str, vnf: str) -> None:
        await self._beside("start_vnf", instance=instance, pop=pop, vnf=vnf)

    async def stop_vnf(self, instance: str) -> None:
        await self._beside("stop_vnf", instance=instance)

    async def _beside(self, op: str, **args: Any) -> Any:
        """An operation the service runs beside its others (it may take seconds): asked
        for its outcome every `POLL_S` until done; its result, or ControllerError."""
        outcome = await self._ask(op, **args)
        while not outcome.get("done"):
            await asyncio.sleep(POLL_S)
            outcome = await self._ask("outcome", ticket=outcome["ticket"])
        if "error" in outcome:
            raise ControllerError(f"controller failed {op}: {outcome['error']}")
        return outcome.get("result")
