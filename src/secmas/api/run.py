"""One run of a scenario, composed once: the application layer beneath the CLI, the UI
and the benchmarks.

`run()` takes a scenario (file, YAML text, embedded name or model) and the run's
options, deploys the secure pipeline on the chosen data-plane engine with the agents in
this process or as OS processes over NATS, runs the loops the scenario and the options
ask for (closed loop, SSLA manager, CTI hygiene, moving target defence, a live view),
writes the run's files and returns a typed `RunResult`. Nothing is printed: an
`RunObserver` is told what happens. Bad input raises `RunInputError` before any work; a
run that cannot finish raises `RunFailed`; a run that finished but did not mitigate the
attack returns with `passed` False.

    from secmas.api import run
    result = run("ddos-6pop", out=Path("runs/mine"))
    print(result.passed, result.report["auctions"][0]["winner"])

`plan()` and `execute()` are the two halves, for callers (the CLI) that check their own
arguments in between.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from secmas.api.blocktime import fit_block_time
from secmas.api.defence import AdaptiveDefence, adaptive_defence
from secmas.api.errors import RunFailed, RunInputError
from secmas.api.ledgerkeys import run_keys
from secmas.api.loops import agent_training, closed_loop, policies, policy_files, ssla_manager
from secmas.api.observer import RunObserver
from secmas.api.placement import Hosts, InProcess, Outside, Placement, Pods, Processes
from secmas.api.scenarios import (
    resolve,
    tamper_plan,
    with_analytics,
    with_engine,
    with_security,
    with_seed,
    with_service,
)
from secmas.extras import require
from secmas.ledger.keyfile import LEDGER_OWN, LedgerKeys
from secmas.report.acceptance import Acceptance, Timeline, acceptance, failure_reasons
from secmas.report.folder import refusal
from secmas.scenario.caveats import run_warnings
from secmas.scenario.loader import dotted
from secmas.scenario.model import Scenario
from secmas.scenario.topology import dump_scenario

if TYPE_CHECKING:
    from secmas.agents.journal import Journal
    from secmas.deploy.kubeplay import PodDeployment
    from secmas.network.dataplane import Telemetry
    from secmas.network.emulation.attacker_process import HiddenAttacker
    from secmas.pipeline.cnf_emulated import DetectorChoice
    from secmas.pipeline.hosts import HostList
    from secmas.pipeline.operate import OperateResult

RUNS = Path("runs")
"""Where a run without `out` writes its folder."""


class PlanOptions(TypedDict, total=False):
    """The options of one run, all keywords of `plan` and `run`; each left out takes its
    default."""

    engine: str | None
    """'simulator' or 'emulated' (default: the scenario's)."""
    placement: Placement | None
    """Where the agents run, one typed value of `secmas.api.placement` (default
    `InProcess()`)."""
    seed: int | None
    """The run's seed (default: the scenario's)."""
    detect: bool
    """Run the closed loop (its detector watching the telemetry)."""
    federated: bool
    """Train the closed loop's autoencoder by the agents over secure aggregation."""
    policy: Path | None
    """Intents or an SSLA to assess, replacing the scenario's own."""
    adaptive: bool
    """Run the scenario's CTI and MTD sections (default True; False skips them)."""
    taxii: str | None
    """An existing TAXII 2.1 server for the CTI (default: one of the run's own)."""
    tamper: str | None
    """A PoP whose agent is patched in memory 5 s in."""
    ledger: str | None
    """'memory' or a JSON-RPC URL (default: the scenario's)."""
    insecure: bool
    """Run without the trust layer (no attestation, ledger or keys)."""
    plaintext: bool
    """Agents' messages travel unsealed (no AEAD channel between them)."""
    service: Path | None
    """A network-service descriptor file to deploy (default: the scenario's)."""
    metrics_port: int | None
    """Serve the run's metrics (Prometheus exposition) on this port."""
    retrain: bool
    """Train the closed loop's models again rather than load them from the cache."""
    detector: DetectorChoice | None
    """The real CNF's detector on the emulated engine."""
    mlfo_key: Path | None
    """Key file of the MLFO's account on a JSON-RPC ledger (default: the file
    SECMAS_MLFO_KEY names, else the node's own account)."""
    secaas_key: Path | None
    """Key file of SECaaS's account, as `mlfo_key`."""


@dataclass(frozen=True)
class RunPlan:
    """A checked run, before any work: the scenario as it will run and how."""

    scenario: Scenario
    source: Path
    """The scenario's file (relative paths of the scenario are read beside it)."""
    placement: Placement = field(default_factory=InProcess)
    tamper: dict[str, float] | None = None
    policy: Path | None = None
    adaptive: bool = True
    taxii: str | None = None
    metrics_port: int | None = None
    retrain: bool = False
    detector: DetectorChoice | None = None
    """The real CNF's detector on the emulated engine (`secmas.pipeline.realcnf`)."""
    attacker: HiddenAttacker | None = None
    """On the emulated engine, the attacks come from this attacker process, not from the
    scenario (`secmas.pipeline.emulated`)."""
    ledger_keys: LedgerKeys = LEDGER_OWN
    """The MLFO's and SECaaS's ledger accounts (default the ledger's own)."""
    ledger_token: str | None = field(default=None, repr=False)
    """The ledger's bearer token (None: `SECMAS_LEDGER_TOKEN`'s, if any)."""


@dataclass
class RunResult:
    """What a run produced: its report (as report.json), acceptance figures, files."""

    run_id: str
    folder: Path
    scenario: Scenario
    report: dict[str, Any]
    acceptance: Acceptance
    paths: list[Path]
    journal: Journal
    telemetry: list[Telemetry]
    wall_seconds: float
    messages: int
    operated: OperateResult = field(repr=False)

    @property
    def passed(self) -> bool:
        """The acceptance figures were measured and met: the attack mitigated, legitimate
        traffic back."""
        return self.acceptance.passed


def plan(
    scenario: Scenario | Path | str,
    *,
    engine: str | None = None,
    placement: Placement | None = None,
    seed: int | None = None,
    detect: bool = False,
    federated: bool = False,
    policy: Path | None = None,
    adaptive: bool = True,
    taxii: str | None = None,
    tamper: str | None = None,
    ledger: str | None = None,
    insecure: bool = False,
    plaintext: bool = False,
    service: Path | None = None,
    metrics_port: int | None = None,
    retrain: bool = False,
    detector: DetectorChoice | None = None,
    mlfo_key: Path | None = None,
    secaas_key: Path | None = None,
) -> RunPlan:
    """Resolve the scenario and apply the options (`PlanOptions`); RunInputError names
    every problem, before any work, and `MissingExtra` an extra the run needs."""
    placement = placement or InProcess()
    if isinstance(placement, Pods):
        pods = _pods(placement, ledger)
        placement, ledger = replace(placement, pods=pods), pods.ledger_url()
    outside = isinstance(placement, Outside)
    resolved = resolve(scenario)
    loaded = with_engine(
        with_service(resolved.scenario, service),
        engine,
        outside,
        hosts=isinstance(placement, Hosts),
        bus=isinstance(placement, Processes | Hosts) and placement.bus is not None,
        pods=isinstance(placement, Pods),
    )
    loaded = with_seed(loaded, seed)
    loaded = with_analytics(with_security(loaded, ledger, insecure, plaintext), detect, federated)
    if loaded.load is not None and (outside or loaded.network.engine == "emulated"):
        raise RunInputError(
            "the scenario's load section (synthetic goals) runs with in-process agents on "
            "the simulator: drop --processes and --dataplane emulated"
        )
    if isinstance(placement, Outside) and placement.speed <= 0:
        raise RunInputError(f"{placement.speed:g}: must be above 0", option="speed")
    if isinstance(placement, Hosts):
        placement = replace(placement, hosts=host_list(loaded, placement))
    access = None
    if isinstance(placement, Pods):
        from secmas.api.pods import check_pods, pods_ledger

        check_pods(loaded, placement.pods)
        access = pods_ledger(placement.pods, mlfo_key, secaas_key)
    _require_extras(loaded, adaptive)
    if loaded.security.enabled and isinstance(placement, InProcess):
        _refuse_shadowed_package()
    if isinstance(placement, Outside):
        loaded = fit_block_time(loaded, placement.speed)
    keys = run_keys(loaded, mlfo_key, secaas_key, os.environ) if access is None else access.keys
    return RunPlan(
        loaded,
        resolved.source,
        placement,
        tamper_plan(loaded, tamper),
        policy,
        adaptive,
        taxii,
        metrics_port,
        retrain,
        detector,
        ledger_keys=keys,
        ledger_token=None if access is None else access.token,
    )


def _require_extras(scenario: Scenario, adaptive: bool) -> None:
    """`MissingExtra` (`secmas.extras`), before any work, for a run whose loops need an
    extra that is not installed: the closed loop's models and the MTD planner need `ml`,
    the CTI sharing `cti`."""
    extras: list[str] = []
    purposes: list[str] = []
    if scenario.analytics.detect:
        extras.append("ml")
        purposes.append("the closed loop")
    if adaptive and scenario.cti is not None:
        extras.append("cti")
    if adaptive and scenario.mtd is not None:
        extras.append("ml")
    if adaptive and (scenario.cti is not None or scenario.mtd is not None):
        purposes.append("the adaptive defence (CTI, MTD)")
    if extras:
        require(extras, " and ".join(purposes))


def _refuse_shadowed_package() -> None:
    """RunInputError, before any work, when this process finds a `secmas` ahead of the
    installed one (a checkout in the working directory, a PYTHONPATH entry): its agents are
    measured from outside, and the measurer rightly refuses such a process at step 9-12."""
    from secmas.trust.measurer_probe import shadowing

    found = shadowing("secmas", dict(os.environ), Path.cwd())
    if found:
        raise RunInputError(
            f"{found[0]} shadows the installed secmas package, and the measurer refuses an "
            "agent that could import it (attestation would fail at step 9-12): run from "
            "another folder, or take it off PYTHONPATH"
        )


def run(
    scenario: Scenario | Path | str,
    *,
    out: Path | None = None,
    progress: Callable[[float, float], None] | None = None,
    observer: RunObserver | None = None,
    force: bool = False,
    **options: Unpack[PlanOptions],
) -> RunResult:
    """Run `scenario` end to end and write its files to `out` (default runs/<id>).

    `options` are the run's options (`PlanOptions`: engine, placement, seed, closed loop,
    ledger, ...). `progress(now, duration)` is told the simulated time after every step.
    An `out` that already holds files is refused before any work (`RunInputError`) unless
    `force`; one holding an audit log always is.
    """
    return execute(
        plan(scenario, **options), out=out, observer=observer, progress=progress, force=force
    )


def execute(
    plan: RunPlan,
    *,
    out: Path | None = None,
    observer: RunObserver | None = None,
    progress: Callable[[float, float], None] | None = None,
    force: bool = False,
) -> RunResult:
    """Deploy, operate and report a checked run (see the module docstring); `out` and
    `force` as for `run`."""
    if out is not None and (why := refusal(out, force, "pass force=True")) is not None:
        raise RunInputError(why, option="out")
    observer = observer or RunObserver()
    scenario = plan.scenario
    sslas = policies(scenario, plan.source, plan.policy)
    defence = (
        adaptive_defence(scenario, plan.source, plan.taxii) if plan.adaptive else AdaptiveDefence()
    )
    run_id = f"{scenario.id}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    folder = out or fresh_folder(RUNS / run_id, observer)
    if not scenario.security.enabled:
        observer.warning("security is off: agents run unattested and unkeyed")
    elif not scenario.security.encrypt:
        observer.warning("encryption is off: agents' messages travel in clear")
    for at, caveat in run_warnings(scenario):  # as `secmas scenario validate` warns
        observer.warning(f"{dotted(at)}: {caveat}")
    observer.begin(scenario, run_id, folder)
    loop = (
        closed_loop(
            scenario,
            observer,
            metrics_port=plan.metrics_port,
            retrain=plan.retrain,
            detector=plan.detector,
        )
        if scenario.analytics.detect
        else None
    )
    training = agent_training(scenario, loop, observer)
    manager = ssla_manager(scenario, sslas, loop, folder, run_id) if sslas else None
    loops: list[Any] = [x for x in (training, loop, manager) if x is not None] + defence.loops
    work = [training] if training is not None else []
    operated = _operate(plan, folder, observer, loops, progress, work)
    attack = scenario.attack
    attacked = getattr(operated, "hidden_attacks", None)  # a hidden attacker's own record
    timeline = Timeline.of(scenario, attacked)
    accepted = acceptance(operated.telemetry, timeline, operated.capacity.ok)
    from secmas.report.files import write_run
    from secmas.report.record import build_report

    report = build_report(operated, accepted, run_id)
    if not accepted.passed:
        reasons = failure_reasons(accepted, scenario, operated.telemetry, report["auctions"])
        accepted = replace(accepted, reasons=reasons)
        report["acceptance"] = accepted.as_dict()
        for reason in reasons:
            observer.warning(reason)
    duration = scenario.traffic.duration if scenario.traffic else 0.0
    window = None if attack is None else (attack.start, attack.stop or duration)
    try:
        paths = write_run(
            folder, report, operated.journal, operated.telemetry, window, operated.scenario
        )
        if loop is not None:
            paths += [
                loop.collector.write_csv(folder / f"metrics-{cnf}.csv", cnf)
                for cnf in loop.collector.cnfs
            ]
        if manager is not None:
            paths += policy_files(folder, sslas, manager)
        paths += defence.write(folder)
    except OSError as exc:
        raise RunFailed(f"cannot write the run to {folder}: {exc}") from None
    observer.finish(accepted.passed)
    return RunResult(
        run_id,
        folder,
        scenario,
        report,
        accepted,
        paths,
        operated.journal,
        operated.telemetry,
        operated.wall_seconds,
        operated.messages,
        operated,
    )


def _operate(
    plan: RunPlan,
    folder: Path,
    observer: RunObserver,
    loops: list[Any],
    progress: Callable[[float, float], None] | None,
    work: list[Any],
) -> OperateResult:
    """Deploy and operate on the plan's engine and placement, giving the attested
    agents `work` after bring-up; the run's failures mapped onto RunInputError and
    RunFailed."""
    from secmas.deploy.podman import PodmanError
    from secmas.network.emulation.errors import EmulationFailed, EmulationUnavailable, PlanError
    from secmas.pipeline.errors import PipelineError, RunError
    from secmas.transport.credentials import CredentialError
    from secmas.transport.nats import BusUnavailable

    pods: tuple[type[Exception], ...] = (PodmanError,)
    if isinstance(plan.placement, Pods):  # kube play's module costs ~0.4 s to import
        from secmas.deploy.kubeplay import KubePlayError

        pods = (KubePlayError, PodmanError)
    try:
        return asyncio.run(
            _widely_offloaded(
                _operation(plan, folder, observer, loops, _told(observer, progress), work)
            )
        )
    except RunError as exc:
        raise RunInputError(str(exc)) from None
    except PipelineError as exc:
        raise RunFailed(f"deployment stopped at {exc}") from None
    except pods as exc:
        raise RunFailed(f"pods: {exc}") from None
    except (BusUnavailable, FileNotFoundError) as exc:
        raise RunFailed(f"message bus: {exc}") from None
    except (EmulationUnavailable, PlanError) as exc:
        raise RunInputError(f"emulated data plane: {exc}") from None
    except EmulationFailed as exc:
        raise RunFailed(f"emulated data plane: {exc}") from None
    except CredentialError as exc:  # a seed missing from the bus keys, or open to others
        raise RunInputError(f"{exc}", option="bus_keys") from None


def _told(
    observer: RunObserver, progress: Callable[[float, float], None] | None
) -> Callable[[float, float], None]:
    """What the run tells after every step: the observer, and the caller's callback."""
    if progress is None:
        return observer.progress

    def both(now: float, duration: float) -> None:
        observer.progress(now, duration)
        progress(now, duration)

    return both


OFFLOAD_THREADS = 32
"""Threads for the run's blocking calls (`asyncio.to_thread`: ledger requests, agents'
measurements). The run's chain answers on another core (`secmas.ledger.nodeprocess`):
with more requests in flight it stays busy while the agents work. The default pool (CPUs
+ 4: six on two cores) left a 1,000-agent first round waiting on it, 24.0 s against
18.5 s with 32."""


async def _widely_offloaded(work: Awaitable[Any]) -> Any:
    """`work` on a loop whose default executor has OFFLOAD_THREADS threads, set before
    anything is offloaded: replaced mid-run, the old pool's threads exited, and a process
    started from one of them with a parent-death signal (the emulated VNF registry) died
    with its thread."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(OFFLOAD_THREADS, "offload"))
    return await work


def _operation(
    plan: RunPlan,
    folder: Path,
    observer: RunObserver,
    loops: list[Any],
    progress: Callable[[float, float], None],
    work: list[Any],
) -> Any:
    """The operate coroutine of the plan: agents as processes, or in this process on the
    scenario's data-plane engine (`work`: on the simulator, see `agent_training`)."""
    scenario = plan.scenario
    placement = plan.placement
    if isinstance(placement, Outside):
        from secmas.pipeline.outside import operate_processes

        folder.mkdir(parents=True, exist_ok=True)
        scenario_file = folder / "scenario.yaml"
        scenario_file.write_text(dump_scenario(scenario), encoding="utf-8")
        agents = None
        if scenario.network.engine == "emulated":  # containers where podman is
            from secmas.api.popagents import pop_agents

            agents = pop_agents(observer)
        observer.note(
            f"{agents.said} inside their PoPs' namespaces, over NATS on the pipeline's "
            f"VXLAN overlay of the emulated network, in real time; their logs in {folder}"
            if agents is not None
            else f"agents as processes over NATS, {placement.speed:g}× real time"
            f"{', each in its pod (podman kube play)' if isinstance(placement, Pods) else ''}; "
            f"their logs in {folder}"
        )
        if isinstance(placement, Processes) and (agents is None or agents.kind == "processes"):
            say_agent_user(observer)
        operate = functools.partial(
            operate_processes,
            scenario,
            scenario_file,
            workdir=folder,
            speed=placement.speed,
            progress=progress,
            steps=observer.step,
            tamper=plan.tamper,
            loops=loops,
            work=work,
            pop_agents=agents,
            ledger_keys=plan.ledger_keys,
            ledger_token=plan.ledger_token,
        )
        if isinstance(placement, Pods):
            from secmas.api.pods import operate_on_pods

            return operate_on_pods(
                placement.pods,
                folder,
                lambda bus, iml: operate(bus=bus, iml=iml, wrap_image=iml.wrap_image),
            )
        if isinstance(placement, Hosts):
            return operate(bus=placement.bus, iml=_host_driver(placement, folder, scenario))
        return operate(bus=placement.bus, iml=None)
    live = observer.loop(loops)
    if live is not None:
        loops = [*loops, live]
    if scenario.network.engine == "emulated":
        from secmas.pipeline.emulated import operate_emulated

        observer.note(
            f"emulated data plane: a real network on this machine, "
            f"{scenario.network.scale:g} of the scenario's rates, in real time"
        )
        return operate_emulated(
            scenario,
            progress=progress,
            steps=observer.step,
            loops=loops,
            workdir=folder / "emulation",
            tamper=plan.tamper,
            attacker=plan.attacker,
        )
    from secmas.pipeline.operate import operate

    return operate(
        scenario,
        progress=progress,
        steps=observer.step,
        loops=loops,
        tamper=plan.tamper,
        work=work,
        ledger_keys=plan.ledger_keys,
    )


def say_agent_user(observer: RunObserver) -> None:
    """Who this machine's agent processes run as (`secmas.pipeline.agentuser`), once: a
    warning when it is the measurer's own user; RunInputError when agents cannot run as
    their own user here (their runtime out of its reach)."""
    from secmas.pipeline.agentuser import AgentUserError, agent_user

    try:
        user = agent_user()
    except AgentUserError as exc:
        raise RunInputError(f"agent processes: {exc}") from None
    (observer.note if user.separated else observer.warning)(user.said())


def host_list(scenario: Scenario, placement: Hosts) -> HostList:
    """The placement's host list, loaded and checked against the scenario: agents on
    other hosts reach the bus and the ledger over the network."""
    from secmas.pipeline.hosts import HostList, HostListError, load_hosts

    if scenario.security.enabled and scenario.security.ledger == "memory":
        raise RunInputError(
            ": agents on other hosts need a JSON-RPC ledger they can reach; add --ledger URL",
            option="hosts",
        )
    hosts = placement.hosts
    try:
        loaded = hosts if isinstance(hosts, HostList) else load_hosts(hosts)
        loaded.assign([pop.id for pop in scenario.pops])
    except HostListError as exc:
        raise RunInputError(*(str(p) for p in exc.problems)) from None
    return loaded


def _pods(placement: Pods, ledger: str | None) -> PodDeployment:
    """The deployment the agents run in (`secmas.api.pods.load_pods`)."""
    from secmas.api.pods import load_pods

    if not isinstance(placement.pods, Path):
        return placement.pods
    return load_pods(placement.pods, ledger=ledger)


def _host_driver(placement: Hosts, folder: Path, scenario: Scenario) -> Any:
    """The IML driver that starts each agent on its host of the host list."""
    from secmas.pipeline.hosts import HostList, HostProcesses

    assert isinstance(placement.hosts, HostList)
    return HostProcesses(placement.hosts, folder, [pop.id for pop in scenario.pops])


def fresh_folder(folder: Path, observer: RunObserver) -> Path:
    """`folder`, or `folder`-2, -3, … when it exists (said): a default run folder is never
    written over."""
    if not folder.exists():
        return folder
    number = 2
    while (candidate := folder.with_name(f"{folder.name}-{number}")).exists():
        number += 1
    observer.note(f"{folder} exists: writing to {candidate}")
    return candidate
