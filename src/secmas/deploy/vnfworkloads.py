"""Every VNF instance of an emulated run as a container in the PoP that won it.

`003_…`'s Orchestrator downloads a VNF's image from the repository and starts it on its
PoP (Section 5.2: Containernet containers on the PoP's switch). `VNFWorkloads` does that
on the emulated network:

- the VNF registry (`secmas.deploy.vnfimages`) serves from the repository's PoP, on that
  PoP's own address (`EmulationPlan.pop_addresses`), inside its namespace;
- a PoP pulls an image from inside its own namespace into its own image store
  (`PopStore`), so the image's own layer crosses the emulated links, shaped and shared
  with the traffic and the flood: the seconds the pull takes are the bid's T measured;
- the instance runs as a container of that image in the PoP's namespace
  (`--network ns:`), counting with its own packet socket what reaches the PoP towards the
  server (`secmas.network.emulation.vnfprobe`); its counters are a file the run reads.

Everything started is recorded with the network's run record (a run that dies has its
registry and containers killed by the next one) and removed at `close`.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secmas.deploy.image import ImageError
from secmas.deploy.podman import PodmanError
from secmas.deploy.vnfimages import (
    PROGRAM,
    REGISTRY_BINARY,
    PopStore,
    VNFRegistry,
    registry_config,
    wait_serving,
)
from secmas.network.emulation.errors import VNFFailed
from secmas.network.emulation.network import EmulatedNetwork, call_inside

REGISTRY_PORT = 5000
COUNTERS = "counters.json"


@dataclass
class VNFWorkload:
    """One VNF instance as it ran: where, from which image, how long its pull took."""

    instance: str
    vnf: str
    pop: str
    namespace: str
    image: str
    """The reference pulled, `<registry>/secmas-vnf/<id>@sha256:…`."""
    digest: str
    layer_bytes: int
    estimated_s: float | None
    """The bid's T for the download (None: not pulled for a bid)."""
    pulled_s: float
    container: str = ""
    started: float = 0.0
    """Run seconds at the container's start."""
    stopped: float | None = None
    counters: dict[str, Any] | None = None
    """The VNF's own counters as it last wrote them (`vnfprobe`)."""

    def row(self) -> dict[str, object]:
        """The report's line of it."""
        seen = self.counters or {}
        return {
            "instance": self.instance,
            "vnf": self.vnf,
            "pop": self.pop,
            "namespace": self.namespace,
            "container": self.container[:12],
            "digest": self.digest,
            "layer_bytes": self.layer_bytes,
            "estimated_s": None if self.estimated_s is None else round(self.estimated_s, 3),
            "pulled_s": round(self.pulled_s, 3),
            "started": round(self.started, 3),
            "stopped": None if self.stopped is None else round(self.stopped, 3),
            "packets_seen": seen.get("packets"),
            "sources_seen": len(seen.get("sources") or {}),
        }


@dataclass
class _Pulled:
    vnf: str
    estimated_s: float | None
    seconds: float


class VNFWorkloads:
    """The VNF registry, the PoPs' image stores and the VNF containers of one run."""

    def __init__(
        self,
        network: EmulatedNetwork,
        registry: VNFRegistry,
        repository: str,
        folder: Path,
        now: Callable[[], float],
    ) -> None:
        plan = network.plan
        if repository not in plan.pop_addresses:
            raise VNFFailed(f"the VNF repository hangs off {repository!r}, which is not a PoP")
        self.network = network
        self.registry = registry
        self.repository = repository
        self.folder = folder.resolve()  # podman's stores need absolute paths
        self.now = now
        self.address = f"{plan.pop_addresses[repository]}:{REGISTRY_PORT}"
        self.workloads: dict[str, VNFWorkload] = {}
        self._stores: dict[str, PopStore] = {}
        self._pulled: dict[str, list[_Pulled]] = {}
        self._lock = threading.Lock()
        self._registry_process: subprocess.Popen[bytes] | None = None

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Serve the registry in the repository's PoP; VNFFailed when it does not answer."""
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "registry.yml"
        config.write_text(registry_config(self.registry.store, self.address, read_only=True))
        log = self.folder / "registry.log"
        namespace = self.network.namespace(self.repository)
        process = self.network.spawn(namespace, [REGISTRY_BINARY, "serve", str(config)], str(log))
        self._registry_process = process
        url = f"http://{self.address}/v2/"
        try:
            call_inside(
                namespace,
                lambda: wait_serving(url, lambda: process.poll() is None, log),
            )
        except ImageError as exc:
            raise VNFFailed(str(exc)) from None

    def close(self) -> list[dict[str, object]]:
        """Stop every container and the registry, remove the PoPs' stores; the report's
        rows of every instance that ran (`rows`). Never raises."""
        now = self.now()
        for instance, workload in self.workloads.items():
            if workload.stopped is None:
                workload.stopped = now
                workload.counters = self.counters(instance)
        rows = self.rows()
        for store in self._stores.values():
            store.remove()
        self._stores.clear()
        if self._registry_process is not None:
            self.network.end(self._registry_process)
            self._registry_process = None
        return rows

    # -- what the controller asks -----------------------------------------------------------
    def pull(self, pop: str, vnf: str, estimated_s: float | None) -> float:
        """Pull `vnf`'s image into `pop`'s store from inside its namespace for a bid whose
        T was `estimated_s`; the seconds it took. VNFFailed when there is no such VNF or
        the pull fails."""
        seconds = self._fetch(pop, vnf)
        with self._lock:
            self._pulled.setdefault(pop, []).append(_Pulled(vnf, estimated_s, seconds))
        return seconds

    def run(self, instance: str, pop: str, vnf: str) -> VNFWorkload:
        """Start `instance` of `vnf` as a container in `pop`'s namespace (pulled first if
        this PoP has not pulled it for a bid); VNFFailed when it cannot start."""
        with self._lock:
            pulls = self._pulled.get(pop, [])
            done = next((p for p in pulls if p.vnf == vnf), None)
            if done is not None:
                pulls.remove(done)
        if done is None:
            done = _Pulled(vnf, None, self._fetch(pop, vnf))
        reference = self._reference(vnf)
        image = self.registry.images[vnf]
        out = self.folder / "instances" / instance
        out.mkdir(parents=True, exist_ok=True)
        name = f"{self.network.plan.prefix}-vnf-{_safe(instance)}"
        watch = self.network.plan.server_ip
        args = [
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            f"ns:{self.network.named(pop)}",
            "--cap-add",
            "NET_RAW",
            "--volume",
            f"{out}:/vnf-out",
            reference,
            "python3",
            PROGRAM,
            "--vnf",
            vnf,
            "--watch",
            watch,
            "--out",
            f"/vnf-out/{COUNTERS}",
        ]
        store = self._store(pop)
        try:
            container = store.podman(args).strip()
            pids = store.podman(
                ["inspect", "--format", "{{.State.ConmonPid}} {{.State.Pid}}", container]
            ).split()
        except PodmanError as exc:
            raise VNFFailed(f"{pop} could not start {vnf} ({instance}): {exc}") from None
        for pid in pids:
            if pid.isdigit() and int(pid) > 0:
                self.network.record(int(pid))
        workload = VNFWorkload(
            instance,
            vnf,
            pop,
            self.network.plan.name(pop),
            reference,
            image.digest,
            image.layer_bytes,
            done.estimated_s,
            done.seconds,
            container,
            self.now(),
        )
        with self._lock:
            self.workloads[instance] = workload
        return workload

    def stop(self, instance: str) -> None:
        """Stop `instance`'s container (if it runs) and keep its last counters."""
        workload = self.workloads.get(instance)
        if workload is None or workload.stopped is not None:
            return
        with contextlib.suppress(PodmanError):
            self._store(workload.pop).podman(["rm", "--force", "--time", "2", workload.container])
        workload.stopped = self.now()
        workload.counters = self.counters(instance)

    def counters(self, instance: str) -> dict[str, Any] | None:
        """`instance`'s own counters as it last wrote them (None before the first)."""
        try:
            text = (self.folder / "instances" / instance / COUNTERS).read_text()
            return json.loads(text)
        except (OSError, ValueError):
            return None

    def rows(self) -> list[dict[str, object]]:
        """The report's table: every instance that ran, in start order."""
        for instance, workload in self.workloads.items():
            if workload.stopped is None:
                workload.counters = self.counters(instance)
        return [w.row() for w in sorted(self.workloads.values(), key=lambda w: w.started)]

    # -- helpers ----------------------------------------------------------------------------
    def _fetch(self, pop: str, vnf: str) -> float:
        reference = self._reference(vnf)
        prefix = ("nsenter", f"--net={self.network.named(pop)}")
        try:
            return self._store(pop).pull(reference, prefix)
        except (ImageError, PodmanError) as exc:
            raise VNFFailed(f"{pop} could not pull {vnf}: {exc}") from None

    def _reference(self, vnf: str) -> str:
        """What a PoP pulls and runs: `<registry>/secmas-vnf/<id>@sha256:…`; VNFFailed for
        a VNF the registry has no image of."""
        image = self.registry.images.get(vnf)
        if image is None:
            raise VNFFailed(f"no image of VNF {vnf!r} in the registry")
        return f"{self.address}/{image.repository}@{image.digest}"

    def _store(self, pop: str) -> PopStore:
        with self._lock:
            store = self._stores.get(pop)
            if store is None:
                store = self._stores[pop] = PopStore(self.folder / "stores" / pop)
            return store


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "-" for c in name)
