"""The `secmas` command: scenarios, the demo, runs.

Exit codes: 0 success, 2 bad input (scenario files, arguments), 1 a run that failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from secmas.cli.adaptive import AdaptiveDefence, TaxiiOption, adaptive_defence, print_adaptive
from secmas.cli.adaptive import register as register_cti
from secmas.cli.arguments import (
    ForceOption,
    OutOption,
    RunArguments,
    check_run_arguments,
    fresh_folder,
)
from secmas.cli.audit import register as register_audit
from secmas.cli.bus import (
    BusCAOption,
    BusKeysOption,
    BusOption,
    bus_access,
    check_ca,
    check_seed,
    parse_bus,
)
from secmas.cli.bus import register as register_bus
from secmas.cli.dataplane import register as register_dataplane
from secmas.cli.detect import detect_app
from secmas.cli.ledger import register as register_ledger
from secmas.cli.output import (
    BAD_INPUT,
    FAILED_RUN,
    console,
    detail,
    error,
    errors,
    fail,
    line,
    progress_console,
    say,
    set_quiet,
    styled,
    warn,
)
from secmas.cli.policy import register as register_policy
from secmas.cli.tables import (
    acceptance_table,
    alert_table,
    attestation_table,
    auction_tables,
    channel_summary,
    compliance_table,
    detection_table,
    enforcement_table,
    placement_table,
    scenario_table,
    workflow_table,
)
from secmas.cli.ui import UIExitOption, UIOption, UIPortOption, live_view
from secmas.cli.ui import register as register_ui
from secmas.cli.wrap import register as register_wrap
from secmas.network.emulation.errors import EmulationFailed, EmulationUnavailable, PlanError
from secmas.pipeline.errors import PipelineError, RunError
from secmas.pipeline.mlfo import pipeline_name
from secmas.report.acceptance import acceptance
from secmas.scenario.loader import ScenarioError, load_service
from secmas.scenario.model import Scenario
from secmas.scenario.topology import (
    AttackShape,
    PoPShape,
    UnknownTopology,
    dump_scenario,
    scenario_from_topology,
)
from secmas.scenario.validation import load_runnable

if TYPE_CHECKING:
    from secmas.analytics.loop import ClosedLoop
    from secmas.cli.ui import LiveView
    from secmas.pipeline.busaccess import BusAccess
    from secmas.policy.manager import SSLAManager
    from secmas.policy.ssla import SSLA


app = typer.Typer(
    name="secmas",
    help="Secure multi-agent system for near-real-time control of 6G network services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: reflowed text, no <bool> for flags
    context_settings={"max_content_width": 120},
)
scenario_app = typer.Typer(help="Validate scenarios and generate them from real topologies.")
app.add_typer(scenario_app, name="scenario")
register_wrap(app)
register_ledger(app)
register_policy(app)
register_audit(app)
register_cti(app)
register_ui(app)
register_dataplane(app)
register_bus(app)
app.add_typer(detect_app, name="detect")


EMBEDDED = (
    "ddos-6pop",
    "cnf-attack",
    "spoofed-injection",
    "adaptive-defence",
    "ddos-emulated",
)
"""Scenarios shipped with secmas (scenarios/<name>.yaml)."""


def default_scenario_path(name: str = "ddos-6pop") -> Path:
    """An embedded scenario: the reference DDoS one, the CNF-attack one, or the
    spoofed-source injection against a slice-isolation intent."""
    return Path(str(resources.files("secmas") / "data" / f"{name}.yaml"))


def _load(path: Path) -> Scenario:
    try:
        return load_runnable(path)
    except ScenarioError as exc:
        for problem in exc.problems:
            error(str(problem))
        raise typer.Exit(BAD_INPUT) from None


@scenario_app.command("validate")
def validate(file: Annotated[Path, typer.Argument(help="scenario YAML file")]) -> None:
    """Check a scenario file; print a summary, or every problem with file, line and field."""
    console.print(scenario_table(_load(file)))
    say(f"{file}: valid", "green")


ATTACK_KINDS = ("syn_flood", "http_flood", "slowloris", "injection")
SPREADS = ("random", "near", "far")
FLAVOUR_NAMES = ("mixed", "small", "medium", "large")


@scenario_app.command("from-topology")
def from_topology(
    key: Annotated[str, typer.Argument(help="topohub key, e.g. sndlib/germany50")],
    output: Annotated[Path, typer.Option("--output", "-o", help="where to write the YAML")],
    seed: Annotated[int, typer.Option(help="seed for resources, links, traffic, attack")] = 0,
    attack_kind: Annotated[
        str,
        typer.Option(
            help="syn_flood (what the DDoS agents classify), http_flood, slowloris or injection"
        ),
    ] = "syn_flood",
    attackers: Annotated[int, typer.Option(min=1, help="number of attackers")] = 8,
    attack_rate: Annotated[
        float, typer.Option(min=0.001, help="MB/s each attacker sends, split over the ports")
    ] = 0.5,
    attack_ports: Annotated[
        str, typer.Option(help="comma-separated service ports attacked")
    ] = "8000,8080",
    attack_start: Annotated[float, typer.Option(min=0.0, help="attack start, s")] = 20.0,
    attack_stop: Annotated[
        float | None, typer.Option(help="attack end, s (default: runs to the end)")
    ] = None,
    attacker_pops: Annotated[
        int | None,
        typer.Option(min=1, help="PoPs the attackers sit behind (default: 2 to 4, drawn)"),
    ] = None,
    attack_spread: Annotated[
        str,
        typer.Option(help="which PoPs: random, near (fewest hops to the server) or far"),
    ] = "random",
    pop_flavour: Annotated[
        str,
        typer.Option(
            help="PoP size: mixed (drawn), or small/medium/large for all; small PoPs fit no "
            "classifier for a big attack, so the load balancer splits the traffic"
        ),
    ] = "mixed",
    server_bandwidth: Annotated[
        float, typer.Option(min=0.001, help="MB/s of the server's link (the monitored one)")
    ] = 10.0,
) -> None:
    """Generate a DDoS scenario from a real topology (SNDlib, Topology Zoo, CAIDA, Gabriel).

    The --attack-* options shape the attack; --pop-flavour and
    --server-bandwidth the resources: every branch of the strategy can be hit.

    E.g. sndlib/abilene --seed 3 --pop-flavour small --attackers 16: no PoP
    has room for the classifier, so the load balancer splits the traffic.
    """
    try:
        attack = AttackShape(
            kind=_choice("--attack-kind", attack_kind, ATTACK_KINDS),  # type: ignore[arg-type]
            attackers=attackers,
            rate=attack_rate,
            ports=_ports(attack_ports),
            start=attack_start,
            stop=attack_stop,
            pops=attacker_pops,
            spread=_choice("--attack-spread", attack_spread, SPREADS),  # type: ignore[arg-type]
        )
        pops = PoPShape(
            flavour=_choice("--pop-flavour", pop_flavour, FLAVOUR_NAMES),  # type: ignore[arg-type]
            server_bandwidth=server_bandwidth,
        )
        scenario = scenario_from_topology(key, seed=seed, attack=attack, pops=pops)
    except UnknownTopology as exc:
        error(str(exc.args[0]))
        raise typer.Exit(BAD_INPUT) from None
    except ValueError as exc:
        error(str(_first_line(exc)))
        raise typer.Exit(BAD_INPUT) from None
    try:
        output.write_text(dump_scenario(scenario), encoding="utf-8")
    except OSError as exc:
        error(f"cannot write {output}: {exc.strerror}")
        raise typer.Exit(BAD_INPUT) from None
    console.print(scenario_table(scenario))
    say(f"wrote {output}", "green")


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{option} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _ports(text: str) -> tuple[int, ...]:
    try:
        ports = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--attack-ports must be comma-separated numbers, got {text!r}") from None
    if not ports or not all(0 < port < 65536 for port in ports):
        raise ValueError(f"--attack-ports must be in 1..65535, got {text!r}")
    return ports


def _first_line(exc: ValueError) -> str:
    """A validation error's gist: pydantic's message names the field and the problem."""
    errors_of = getattr(exc, "errors", None)
    if callable(errors_of):
        problems = errors_of()
        if problems:
            where = ".".join(str(x) for x in problems[0].get("loc", ())) or "attack"
            message = str(problems[0].get("msg", exc)).removeprefix("Value error, ")
            return f"{where}: {message}"
    return str(exc)


@dataclass(frozen=True)
class Distribution:
    """How the agents run: in this process (default), or one OS process each over NATS."""

    processes: bool = False
    bus: BusAccess | None = None
    speed: float = 10.0
    tamper: dict[str, float] | None = None
    metrics_port: int | None = None
    """With the closed loop: serve Prometheus metrics on this port while the run is live."""
    retrain: bool = False
    """With the closed loop: train the detection models even if cached ones fit."""
    live: LiveView | None = None
    """With --ui: the live page the run reports to."""


def _policies(
    scenario: Scenario, scenario_file: Path, policy: Path | None, processes: bool
) -> list[SSLA]:
    """The SSLAs to assess in the run: `--policy`, else the scenario's own intent file
    (relative to the scenario file), else none; checked against the scenario's slices."""
    path = policy
    if path is None and scenario.policy is not None:
        path = scenario_file.parent / scenario.policy
    if path is None:
        return []
    from secmas.cli.policy import read_policy
    from secmas.policy.manager import check_scenario

    sslas, _what = read_policy(path)
    problems = check_scenario(sslas, scenario)
    for problem in problems:
        error(f"{path}: {problem}")
    if problems:
        raise typer.Exit(BAD_INPUT)
    if processes:
        error("the SSLA manager runs with in-process agents: drop --processes")
        raise typer.Exit(BAD_INPUT)
    return sslas


def _execute(
    scenario: Scenario,
    out: Path | None,
    mode: Distribution | None = None,
    sslas: Sequence[SSLA] = (),
    defence: AdaptiveDefence | None = None,
) -> None:
    """Operate the scenario with a progress bar, print the tables, write the files."""
    # the runtime (web3, py-evm, NATS, matplotlib) loads here, not for every command
    from secmas.pipeline.processes import operate_processes
    from secmas.report.files import write_run
    from secmas.report.record import build_report
    from secmas.transport.credentials import CredentialError
    from secmas.transport.nats import BusUnavailable

    mode = mode or Distribution()
    run_id = f"{scenario.id}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    folder = out or fresh_folder(Path("runs") / run_id)
    duration = scenario.traffic.duration if scenario.traffic else 0.0
    columns = (
        TextColumn("simulated"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
    )
    if not scenario.security.enabled:
        warn("security is off: agents run unattested and unkeyed")
    elif not scenario.security.encrypt:
        warn("encryption is off: agents' messages travel in clear")

    live = mode.live
    if live is not None:
        live.begin(scenario, run_id, folder)

    def steps(number: str, name: str) -> None:
        detail(f"step {number}: {name}", style="dim")
        if live is not None:
            live.step(number, name)

    loop = _closed_loop(scenario, mode) if scenario.analytics.detect else None
    manager = _ssla_manager(scenario, sslas, loop, folder, run_id) if sslas else None

    try:
        with Progress(*columns, console=progress_console(), transient=True) as bar:
            task = bar.add_task("run", total=duration)

            def progress(now: float, _duration: float) -> None:
                bar.update(task, completed=now)
                if live is not None and mode.processes:
                    live.progress(now, _duration)

            if mode.processes:
                folder.mkdir(parents=True, exist_ok=True)
                scenario_file = folder / "scenario.yaml"
                scenario_file.write_text(dump_scenario(scenario), encoding="utf-8")
                detail(
                    f"agents as processes over NATS, {mode.speed:g}× real time; "
                    f"their logs in {folder}",
                    style="dim",
                )
                work = operate_processes(
                    scenario,
                    scenario_file,
                    workdir=folder,
                    bus=mode.bus,
                    speed=mode.speed,
                    progress=progress,
                    steps=steps,
                    tamper=mode.tamper,
                )
            else:
                loops: list[Any] = [x for x in (loop, manager) if x is not None]
                loops += defence.loops if defence is not None else []
                if live is not None:
                    loops.append(live.loop(loops))
                work = _operate_on_engine(scenario, folder, progress, steps, loops, mode.tamper)
            result = asyncio.run(work)
    except RunError as exc:
        error(str(exc))
        raise typer.Exit(BAD_INPUT) from None
    except PipelineError as exc:
        error(f"deployment stopped at {exc}")
        raise typer.Exit(FAILED_RUN) from None
    except (BusUnavailable, FileNotFoundError) as exc:
        error(f"message bus: {exc}")
        raise typer.Exit(FAILED_RUN) from None
    except (EmulationUnavailable, PlanError) as exc:
        error(f"emulated data plane: {exc}")
        raise typer.Exit(BAD_INPUT) from None
    except EmulationFailed as exc:
        error(f"emulated data plane: {exc}")
        raise typer.Exit(FAILED_RUN) from None
    except CredentialError as exc:  # a seed missing from --bus-keys, or open to others
        raise fail(f"--bus-keys: {exc}") from None
    attack = scenario.attack
    start = attack.start if attack else None
    accepted = acceptance(result.telemetry, start, result.capacity.ok)
    report = build_report(result, accepted, run_id)
    detail(*auction_tables(report["auctions"]), placement_table(report["placements"]))
    if report["trust"]:
        detail(attestation_table(report["trust"]))
        console.print(channel_summary(report["trust"]["channel"]))
    detail(workflow_table(report["workflow"]))
    if report["analytics"]:
        detail(alert_table(report["analytics"]))
        console.print(detection_table(report["analytics"]))
    if report["policy"]:
        _print_policy(report["policy"])
    print_adaptive(report)
    console.print(acceptance_table(accepted))
    if report.get("emulation"):
        _print_requests(report["emulation"])
    window = None if attack is None else (attack.start, attack.stop or duration)
    try:
        paths = write_run(folder, report, result.journal, result.telemetry, window, result.scenario)
        if loop is not None:
            paths += [
                loop.collector.write_csv(folder / f"metrics-{cnf}.csv", cnf)
                for cnf in loop.collector.cnfs
            ]
        if manager is not None:
            manager.audit.close()
            paths += _write_policy_files(folder, sslas, manager)
        if defence is not None:
            paths += defence.write(folder)
    except OSError as exc:
        error(f"cannot write the run to {folder}: {exc}")
        raise typer.Exit(FAILED_RUN) from None
    console.print(
        f"{len(report['auctions'])} auctions, {result.messages} bus messages, "
        f"{report['simulated_seconds']:g} simulated s in {result.wall_seconds:.2f} s wall"
    )
    say("files: " + ", ".join(str(p) for p in paths))  # unwrapped: paths stay whole
    if live is not None:
        live.finish(accepted.passed)
    if not accepted.passed:
        errors.print(styled("the attack was not mitigated: acceptance figures not met", "red"))
        raise typer.Exit(FAILED_RUN)


def _print_requests(emulation: dict[str, Any]) -> None:
    """The emulated run's legitimate HTTP requests, phase by phase (real counts)."""
    for window in emulation["requests"]:
        share = "-" if window["success"] is None else f"{window['success']:.1%}"
        console.print(
            f"legitimate requests {window['phase']} ({window['start']:g}–{window['end']:g} s): "
            f"{window['succeeded']}/{window['requests']} succeeded ({share}), "
            f"{window['bytes_per_second'] / 1000:.1f} kB/s"
        )


def _operate_on_engine(
    scenario: Scenario,
    folder: Path,
    progress: Any,
    steps: Any,
    loops: list[Any],
    tamper: dict[str, float] | None = None,
) -> Any:
    """The operate coroutine of the scenario's data-plane engine."""
    from secmas.pipeline.operate import operate

    if scenario.network.engine == "emulated":
        from secmas.pipeline.emulated import operate_emulated

        detail(
            f"emulated data plane: a real network on this machine, "
            f"{scenario.network.scale:g} of the scenario's rates, in real time",
            style="dim",
        )
        return operate_emulated(
            scenario, progress=progress, steps=steps, loops=loops, workdir=folder / "emulation"
        )
    return operate(scenario, progress=progress, steps=steps, loops=loops, tamper=tamper)


def _ssla_manager(
    scenario: Scenario, sslas: Sequence[SSLA], loop: ClosedLoop | None, folder: Path, run_id: str
) -> SSLAManager:
    """The run's SSLA manager, auditing into `folder`/audit.jsonl (anchored on the ledger)."""
    from secmas.policy.audit import ANCHORS_FILE, AUDIT_FILE, AuditLog, audit_log_id
    from secmas.policy.manager import Anchoring, SSLAManager

    log_file = folder / AUDIT_FILE
    if log_file.exists():
        error(
            f"{log_file} holds the audit log of an earlier run: choose another "
            "--out (audit logs are never overwritten)"
        )
        raise typer.Exit(BAD_INPUT)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        audit = AuditLog(log_file)
    except OSError as exc:
        error(f"cannot write the run to {folder}: {exc}")
        raise typer.Exit(FAILED_RUN) from None
    explain = None
    if loop is not None:
        from secmas.policy.attribution import alert_explainer

        explain = alert_explainer(loop.detector, loop.profiler, scenario)
    anchoring = Anchoring(audit_log_id(run_id), folder / ANCHORS_FILE)
    return SSLAManager(sslas, audit, closed_loop=loop, explain=explain, anchoring=anchoring)


def _print_policy(policy: dict[str, Any]) -> None:
    """The SSLA manager's part of the console report."""
    for conflict in policy["conflicts"]:
        console.print(line(("policy", "yellow"), " ", conflict["explanation"]))
    console.print(compliance_table(policy))
    if policy["enforcements"]:
        console.print(enforcement_table(policy))
    shown: set[str] = set()
    for breach in policy["breaches"]:
        term = f"{breach['ssla']}/{breach['term']}"
        if term not in shown:
            shown.add(term)
            console.print(line(("breach", "red"), f" t={breach['end']:g}s {breach['explanation']}"))
    audit = policy["audit"]
    anchors = audit["anchors"] or {}
    console.print(
        f"audit log: {audit['entries']} entries, head {audit['head'][:16]}…, "
        f"{len(anchors.get('anchored', []))} anchors on the ledger "
        f"({anchors.get('contract', 'none')})",
        highlight=False,
    )


def _write_policy_files(folder: Path, sslas: Sequence[SSLA], manager: SSLAManager) -> list[Path]:
    """The SSLAs as XML beside the run's audit log and its anchors file."""
    from secmas.policy.ssla import to_xml

    paths = [manager.audit.path] if manager.audit.path is not None else []
    if manager.anchoring is not None and manager.anchoring.path is not None:
        paths.append(manager.anchoring.path)
    for ssla in sslas:
        path = folder / f"ssla-{ssla.id.removeprefix('ssla-')}.xml"
        path.write_text(to_xml(ssla), encoding="utf-8")
        paths.append(path)
    return paths


def _closed_loop(scenario: Scenario, mode: Distribution) -> ClosedLoop:
    """The scenario's security closed loop, its models trained or loaded from the cache."""
    from secmas.analytics.loop import ClosedLoop, LoopSettings
    from secmas.analytics.reference import detection_models

    if mode.processes:
        error("the closed loop runs with in-process agents: drop --processes")
        raise typer.Exit(BAD_INPUT)

    def say(text: str) -> None:
        detail(f"closed loop: {text}", style="dim")

    trainer = None
    if scenario.analytics.training == "federated":
        from secmas.secagg.federated import federated_trainer

        trainer = federated_trainer(scenario.analytics.rounds)
    from secmas.analytics.threads import limit_torch_threads

    threads = limit_torch_threads()  # deliberate on a small machine, not PyTorch's default
    say(f"preparing the detection models with {threads} PyTorch thread(s)")
    started = time.perf_counter()
    preparing = (SpinnerColumn(), TextColumn("preparing the detection models"), TimeElapsedColumn())
    try:
        # a live line with the time so far while the models load or train (minutes on 2 cores)
        with Progress(*preparing, console=progress_console(), transient=True) as bar:
            bar.add_task("models", total=None)
            detector, profiler = detection_models(
                scenario, retrain=mode.retrain, say=say, trainer=trainer
            )
    except ValueError as exc:  # a scenario federated training cannot work with
        raise fail(f"closed loop: {exc}") from None
    say(f"models ready in {time.perf_counter() - started:.1f} s")
    settings = scenario.analytics
    loop = ClosedLoop(
        detector,
        profiler,
        LoopSettings(
            cooldown=settings.cooldown,
            threshold=settings.threshold,
            trust_threshold=settings.trust_threshold,
            metrics_port=mode.metrics_port,
            training=settings.training,
        ),
    )
    return loop


LedgerOption = Annotated[
    str | None,
    typer.Option(
        "--ledger",
        metavar="URL",
        help="'memory' (in-process EVM, the default) or an Ethereum JSON-RPC URL (http://…)",
    ),
]
InsecureOption = Annotated[
    bool,
    typer.Option("--insecure", help="skip wrapping, attestation and keys (for measurements)"),
]
ProcessesOption = Annotated[
    bool,
    typer.Option("--processes", help="run each agent as its own OS process over NATS"),
]
ServiceOption = Annotated[
    Path | None,
    typer.Option(
        "--service",
        metavar="FILE",
        help="a network-service descriptor (NSD YAML) replacing the scenario's",
    ),
]
SPEED = 10.0
"""Simulated seconds per wall second of a paced run (--processes, --ui)."""
TamperOption = Annotated[
    str | None,
    typer.Option(
        "--tamper",
        metavar="POP",
        help="patch this PoP's agent in memory 5 s into the run; attestation must revoke it",
    ),
]
SpeedOption = Annotated[
    float | None,
    typer.Option(
        "--speed",
        min=0.1,
        max=1000.0,
        help=f"with --processes or --ui: simulated seconds per wall second (default {SPEED:g})",
    ),
]
DataplaneOption = Annotated[
    str | None,
    typer.Option(
        "--dataplane",
        metavar="ENGINE",
        help="'simulator' (flow-level, virtual clock) or 'emulated' (a real Linux network "
        "on this machine, real packets, real time; needs root); default: the scenario's "
        "network.engine",
    ),
]
PlaintextOption = Annotated[
    bool,
    typer.Option(
        "--plaintext", help="attest and key the agents but send their messages unencrypted"
    ),
]


DetectOption = Annotated[
    bool,
    typer.Option(
        "--detect",
        help="run the security closed loop live: monitoring, LSTM autoencoder, profiler, "
        "decisions handed to the agents as goals",
    ),
]
MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=0,
        max=65535,
        help="with the closed loop: serve Prometheus metrics on this port while the run is live",
    ),
]
RetrainOption = Annotated[
    bool,
    typer.Option("--retrain", help="with the closed loop: train the models even if cached"),
]
FederatedOption = Annotated[
    bool,
    typer.Option(
        "--federated",
        help="run the closed loop with its autoencoder trained by the agents: FedAvg over "
        "one agent per PoP, each on its own telemetry, every exchange a secure sum",
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="for big runs: no progress bar, step lines or per-auction, placement, "
        "attestation and workflow tables; the summary, warnings and errors remain",
    ),
]
PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        metavar="FILE",
        help="security intents (YAML) or an SSLA (XML) to assess live, replacing the "
        "scenario's own policy: breaches are enforced, explained and audited",
    ),
]


def _with_dataplane(scenario: Scenario, dataplane: str | None, processes: bool) -> Scenario:
    """The scenario on the data-plane engine `--dataplane` names (checked)."""
    if dataplane is not None:
        if dataplane not in ("simulator", "emulated"):
            error(f"--dataplane {dataplane!r}: choose simulator or emulated")
            raise typer.Exit(BAD_INPUT)
        network = scenario.network.model_copy(update={"engine": dataplane})
        scenario = scenario.model_copy(update={"network": network})
    if scenario.network.engine == "emulated" and processes:
        error("the emulated data plane runs the agents in one process")
        raise typer.Exit(BAD_INPUT)
    return scenario


def _with_analytics(scenario: Scenario, detect: bool, federated: bool = False) -> Scenario:
    """The scenario with the closed loop on when `--detect` (or `--federated`, which also
    has the agents train its autoencoder) asks for it."""
    if not (detect or federated):
        return scenario
    if not scenario.cnfs:
        flag = "--federated" if federated else "--detect"
        error(f"{flag}: scenario {scenario.id!r} has no CNFs to watch")
        raise typer.Exit(BAD_INPUT)
    update: dict[str, object] = {"detect": True}
    if federated:
        update["training"] = "federated"
    analytics = scenario.analytics.model_copy(update=update)
    return scenario.model_copy(update={"analytics": analytics})


def _with_service(scenario: Scenario, service: Path | None) -> Scenario:
    """The scenario with the network service of an NSD file, when one is given."""
    if service is None:
        return scenario
    try:
        return load_service(service, scenario)
    except ScenarioError as exc:
        for problem in exc.problems:
            error(str(problem))
        raise typer.Exit(BAD_INPUT) from None


def _with_security(
    scenario: Scenario, ledger: str | None, insecure: bool, plaintext: bool = False
) -> Scenario:
    """The scenario with the command line's security overrides, checked like the file."""
    security = scenario.security
    if ledger is not None:
        try:
            security = security.model_validate({**security.model_dump(), "ledger": ledger})
        except ValueError:
            error(f"--ledger {ledger!r}: expected 'memory' or http(s)://HOST:PORT")
            raise typer.Exit(BAD_INPUT) from None
    if insecure:
        security = security.model_copy(update={"enabled": False})
    if plaintext:
        security = security.model_copy(update={"encrypt": False})
    return scenario.model_copy(update={"security": security})


@app.command()
def demo(
    out: OutOption = None,
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            metavar="NAME",
            help=f"embedded scenario: {', '.join(EMBEDDED)} (cnf-attack: a CNF under HTTP "
            "flood and incidents, with the closed loop on; spoofed-injection: a slice-isolation "
            "intent against forged sources, with the SSLA manager on; adaptive-defence: CTI "
            "hygiene steering placement and proactive moving target defence)",
        ),
    ] = EMBEDDED[0],
    ledger: LedgerOption = None,
    insecure: InsecureOption = False,
    plaintext: PlaintextOption = False,
    processes: ProcessesOption = False,
    bus: BusOption = None,
    speed: SpeedOption = None,
    tamper: TamperOption = None,
    service: ServiceOption = None,
    detect: DetectOption = False,
    metrics_port: MetricsPortOption = None,
    retrain: RetrainOption = False,
    federated: FederatedOption = False,
    policy: PolicyOption = None,
    ui: UIOption = False,
    ui_port: UIPortOption = None,
    ui_exit: UIExitOption = False,
    bus_ca: BusCAOption = None,
    bus_keys: BusKeysOption = None,
    dataplane: DataplaneOption = None,
    taxii: TaxiiOption = None,
    force: ForceOption = False,
    quiet: QuietOption = False,
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus",
            help="with --scenario cnf-attack --dataplane emulated: read the CNF's metrics from "
            "this Prometheus (http://HOST:PORT, scraping the exporter on --metrics-port) "
            "instead of starting one",
        ),
    ] = None,
    detector: Annotated[
        str | None,
        typer.Option(
            "--detector",
            metavar="NAME|FILE",
            help="with --scenario cnf-attack --dataplane emulated: the loop's detector, "
            "trained on the run's normal phase (zscore, the default; lstm-ae, pca, iforest, "
            "discord) or a model file of `secmas detect fit` (e.g. fitted on a recording)",
        ),
    ] = None,
    recording: Annotated[
        Path | None,
        typer.Option(
            "--recording",
            help="with --scenario cnf-attack --dataplane emulated: a recording of normal "
            "behaviour (`detect dataset --dataplane emulated`) to train the detector on, "
            "with the run's normal phase",
        ),
    ] = None,
) -> None:
    """Run an embedded scenario end to end and report it (default: the reference DDoS
    scenario, six PoPs, Section 5.3; with --dataplane emulated, its compressed version
    ddos-emulated on a real network)."""
    if dataplane == "emulated" and scenario == EMBEDDED[0]:
        scenario = "ddos-emulated"
    if scenario not in EMBEDDED:
        error(f"--scenario {scenario!r}: choose one of {', '.join(EMBEDDED)}")
        raise typer.Exit(BAD_INPUT)
    if dataplane == "emulated" and scenario == "adaptive-defence":
        scenario = "adaptive-emulated"  # compressed to 28 s; its MTD moves really happen
    if dataplane == "emulated" and scenario == "cnf-attack":
        from secmas.cli.cnfemulated import run_demo

        run_demo(
            default_scenario_path(scenario), out, prometheus, metrics_port, detector, recording
        )
        return
    for name, value in (
        ("--prometheus", prometheus),
        ("--detector", detector),
        ("--recording", recording),
    ):
        if value is not None:
            raise fail(f"{name}: only with --scenario cnf-attack --dataplane emulated")
    run_scenario(
        default_scenario_path(scenario),
        out,
        None,
        ledger,
        insecure,
        plaintext,
        processes,
        bus,
        speed,
        tamper,
        service,
        detect,
        metrics_port,
        retrain,
        federated,
        policy,
        ui,
        ui_port,
        ui_exit,
        bus_ca,
        bus_keys,
        dataplane=dataplane,
        taxii=taxii,
        force=force,
        quiet=quiet,
    )


@app.command("run")
def run_scenario(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
    out: OutOption = None,
    seed: Annotated[int | None, typer.Option(min=0, help="override the scenario's seed")] = None,
    ledger: LedgerOption = None,
    insecure: InsecureOption = False,
    plaintext: PlaintextOption = False,
    processes: ProcessesOption = False,
    bus: BusOption = None,
    speed: SpeedOption = None,
    tamper: TamperOption = None,
    service: ServiceOption = None,
    detect: DetectOption = False,
    metrics_port: MetricsPortOption = None,
    retrain: RetrainOption = False,
    federated: FederatedOption = False,
    policy: PolicyOption = None,
    ui: UIOption = False,
    ui_port: UIPortOption = None,
    ui_exit: UIExitOption = False,
    bus_ca: BusCAOption = None,
    bus_keys: BusKeysOption = None,
    dataplane: DataplaneOption = None,
    taxii: TaxiiOption = None,
    force: ForceOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run a scenario: agents detect and mitigate its attack through auctions."""
    set_quiet(quiet)
    speed_given, speed = speed is not None, SPEED if speed is None else speed
    loaded = _with_dataplane(_with_service(_load(scenario), service), dataplane, processes)
    if seed is not None:
        loaded = loaded.model_copy(update={"seed": seed})
    loaded = _with_analytics(_with_security(loaded, ledger, insecure, plaintext), detect, federated)
    mode = _distribution(loaded, processes, bus_access(bus, bus_ca, bus_keys), speed, tamper)
    check_run_arguments(
        RunArguments(
            out,
            force,
            processes,
            bus,
            loaded.analytics.detect,
            metrics_port,
            retrain,
            ui,
            ui_port,
            ui_exit,
            insecure,
            plaintext,
            speed_given,
        )
    )
    sslas = _policies(loaded, scenario, policy, processes)
    defence = adaptive_defence(loaded, scenario, processes, taxii)
    with live_view(ui, out, ui_port, ui_exit, speed) as live:
        options = replace(mode, metrics_port=metrics_port, retrain=retrain, live=live)
        _execute(loaded, out, options, sslas, defence)


TAMPER_AT = 5.0
"""When `--tamper` patches its agent (simulated seconds)."""


def _distribution(
    scenario: Scenario, processes: bool, bus: BusAccess | None, speed: float, tamper: str | None
) -> Distribution:
    """How to run, checked: `--tamper` needs a PoP of the scenario and attestation to catch
    it (in one process the implant is bound on that agent's object, with --processes it
    patches that agent process's code)."""
    if tamper is None:
        return Distribution(processes, bus, speed)
    if tamper not in {p.id for p in scenario.pops}:
        error(f"--tamper {tamper!r}: not a PoP of the scenario")
        raise typer.Exit(BAD_INPUT)
    if not scenario.security.enabled:
        error("--tamper with --insecure: nothing would detect it")
        raise typer.Exit(BAD_INPUT)
    return Distribution(processes, bus, speed, {tamper: TAMPER_AT})


@app.command("agent")
def agent(
    pop: Annotated[str, typer.Option("--pop", help="the PoP this agent controls")],
    bus: Annotated[
        str,
        typer.Option(
            "--bus", help="NATS server(s), nats://HOST:PORT or tls://HOST:PORT, comma-separated"
        ),
    ],
    scenario: Annotated[
        Path | None, typer.Option("--scenario", help="scenario YAML (default: the demo's)")
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="pipeline name (default from the scenario)")
    ] = None,
    ledger: Annotated[
        str | None,
        typer.Option("--ledger", help="Ethereum JSON-RPC URL; without it no trust layer"),
    ] = None,
    tamper_at: Annotated[
        float | None,
        typer.Option(
            "--tamper-at", hidden=True, help="demonstrations: patch this agent in memory then"
        ),
    ] = None,
    bus_ca: BusCAOption = None,
    bus_nkey: Annotated[
        Path | None, typer.Option("--bus-nkey", help="this agent's nkey seed file (mode 0600)")
    ] = None,
    ledger_ca: Annotated[
        Path | None,
        typer.Option("--ledger-ca", help="CA (PEM) the https:// ledger's certificate chains to"),
    ] = None,
) -> None:
    """Run one agent as its own process: join the pipeline, get attested and keyed, then
    take part in auctions until the MLFO stops it. Bus credentials of a URL may come in
    the environment variable SECMAS_BUS_AUTH instead of on the command line."""
    address = parse_bus(bus)
    check_ca(bus_ca)
    check_ca(ledger_ca, "--ledger-ca")
    check_seed(bus_nkey)
    path = scenario or default_scenario_path()
    loaded = _load(path)
    if pop not in {p.id for p in loaded.pops}:
        error(f"--pop {pop!r}: not a PoP of {path}")
        raise typer.Exit(BAD_INPUT)
    from secmas.pipeline.agent_process import AgentConfig, run_agent
    from secmas.transport.nats import BusUnavailable
    from secmas.trust.enrolment import EnrolmentError

    config = AgentConfig(
        pop,
        path,
        address.plain,
        pipeline or pipeline_name(loaded.id),
        ledger,
        tamper_at=tamper_at,
        bus_ca=bus_ca,
        bus_nkey=bus_nkey,
        bus_auth=address.userinfo,
        ledger_ca=ledger_ca,
    )
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {pop} %(levelname)s %(message)s")
    try:
        asyncio.run(run_agent(config))
    except BusUnavailable as exc:
        error(str(exc))
        raise typer.Exit(FAILED_RUN) from None
    except EnrolmentError as exc:  # no, a wrong or a refused enrolment credential
        error(str(exc))
        raise typer.Exit(BAD_INPUT) from None


def run() -> None:
    """Console-script entry point."""
    app()
