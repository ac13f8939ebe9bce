"""The `secmas` command: scenarios, the demo, runs.

Exit codes: 0 success, 2 bad input (scenario files, arguments), 1 a run that failed.

One grammar for every command (a test walks the command tree and checks it):

* **a scenario file** is the positional SCENARIO argument of every command that reads one
  (`run`, `scenario validate`, `deploy kubernetes`, `bus keys`, `detect train`,
  `detect dataset`; optional in `agent`, where it defaults to the demo's); `--scenario NAME`
  only picks an embedded scenario, in `demo`;
* **the file or folder a command writes** is `-o/--out FILE|DIR`, short `-o` always; other
  files it can write beside it are named for what they hold (`--report`, `--decisions`);
* **overwriting** is `--force`, the one name for it: no command writes over an existing
  output file, or into an output folder that holds files, without it (`arguments.
  check_new_files`, `check_new_folder`): a model trained for an hour, a recorded dataset,
  a folder of keys are never lost to a repeated command. `--force` also replaces a
  stored manifest (`wrap --repository`) and builds an image again from unchanged inputs
  (`image build`, whose manifest belongs to the image it built and is rewritten with it);
  `sweep` goes on in a folder of results with `--resume` instead;
* **key files** have one name per role: `--key FILE` the private key the command itself
  signs with (`wrap`, `image build`); `--<role>-key FILE` the private key of a named party
  the command acts for (`--mlfo-key`, `--secaas-key`, `agent --bus-key`); `--trusted-key KEY`
  the pinned public key a check trusts (`verify`, `image verify`, `audit verify`), 64 hex
  digits or a PEM file; `--keys`/`--<role>-keys` a set of keys, a folder (`--bus-keys DIR`)
  or a key set file (`cti share --keys FILE`); `--<role>-ca FILE` the CA a TLS peer's
  certificate chains to (`--bus-ca`, `--ledger-ca`);
* **an input folder** an option names (`--runs`, `--pods`, `--bus-keys`, `--source`) that
  does not exist, or is not a folder, is bad input: exit 2 naming the option;
* **errors** print one way, `error: <message>` on stderr (`secmas.cli.output.error`), click's
  own usage errors too (`secmas.cli.grammar.UsageError`), with exit 2 for bad input;
* **`run` and `demo`** take the same run options, declared once (`secmas.cli.runoptions`),
  and differ only where the other could not use an option (listed there);
* **`secmas --help`** lists the commands in the order a new user needs them
  (`secmas.cli.grammar.BY_USE`);
* **`--json`** on every command that reports a result or a verdict: one JSON document on
  stdout (`secmas.cli.output.print_json`), with what is printed for people moved to stderr;
  a failed check still prints its document (exit 1), bad input prints an error (exit 2);
* **`-q/--quiet`** on every command that shows progress: the result, warnings and errors
  remain;
* **metavars** say what to give: FILE, DIR, URL, N (a whole number), X (a decimal number),
  NAME, and a few named values (POP, KEY, ENGINE); never a type in angle brackets;
* **every command's help ends with an example** (`Example:`).

`secmas --help` and every argument check run without importing the runtime: the modules
of the command line import only typer, rich and the standard library at load time, and
each command imports what its work needs (the application layer, the ledger, torch, the
web stack) after its arguments are checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from secmas import __version__
from secmas.cli.adaptive import register as register_cti
from secmas.cli.arguments import (
    SEED_RANGE,
    ForceFileOption,
    JsonOption,
    RunArguments,
    check_closed_loop,
    check_folder,
    check_new_files,
    check_readable,
    check_run_arguments,
    parse_seed,
)
from secmas.cli.audit import register as register_audit
from secmas.cli.bus import (
    BusCAOption,
    bus_access,
    check_ca,
    check_seed,
    parse_bus,
)
from secmas.cli.bus import register as register_bus
from secmas.cli.dataplane import register as register_dataplane
from secmas.cli.deploy import register as register_deploy
from secmas.cli.detect import detect_app
from secmas.cli.grammar import EMBEDDED, ENGINES, SPEED, Typer
from secmas.cli.image import register as register_image
from secmas.cli.ledger import register as register_ledger
from secmas.cli.output import (
    BAD_INPUT,
    FAILED_RUN,
    console,
    error,
    fail,
    json_mode,
    print_json,
    say,
    set_quiet,
    warn,
)
from secmas.cli.policy import register as register_policy
from secmas.cli.runoptions import RunOptions, with_run_options
from secmas.cli.schema import register as register_schema
from secmas.cli.sweep import register as register_sweep
from secmas.cli.ui import live_view
from secmas.cli.ui import register as register_ui
from secmas.cli.wrap import register as register_wrap

if TYPE_CHECKING:
    from secmas.pipeline.work import SeatService
    from secmas.scenario.model import Scenario

app = Typer(
    name="secmas",
    help="Secure multi-agent system for near-real-time control of 6G network services.",
    no_args_is_help=True,
    context_settings={"max_content_width": 120},
)


def _print_version(wanted: bool) -> None:
    """`--version`: the package's version, then exit before any command runs."""
    if wanted:
        say(f"secmas {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Options that come before the command (`secmas --version`)."""


scenario_app = Typer(help="Validate scenarios and generate them from real topologies.")
app.add_typer(scenario_app, name="scenario")
from secmas.cli.scenario_init import register as register_scenario_init  # noqa: E402

register_scenario_init(scenario_app)
register_wrap(app)
register_ledger(app)
register_policy(app)
register_audit(app)
register_sweep(app)
register_cti(app)
register_ui(app)
register_dataplane(app)
register_bus(app)
register_deploy(app)
register_image(app)
register_schema(app)
app.add_typer(detect_app, name="detect")


Loaded = TypeVar("Loaded")


def default_scenario_path(name: str = EMBEDDED[0]) -> Path:
    """An embedded scenario's file (`secmas.api.embedded_path`)."""
    from secmas.api import embedded_path

    return embedded_path(name)


def _load(path: Path, loader: Callable[[Path], Loaded]) -> Loaded:
    """What `loader` makes of the scenario file; its problems printed, exit 2."""
    from secmas.scenario.loader import ScenarioError

    try:
        return loader(path)
    except ScenarioError as exc:
        for problem in exc.problems:
            error(str(problem))
        raise typer.Exit(BAD_INPUT) from None


ScenarioArgument = Annotated[Path, typer.Argument(metavar="SCENARIO", help="scenario YAML file")]


@scenario_app.command("validate")
def validate(
    file: ScenarioArgument,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="print one JSON document instead: {file, valid: true, scenario, warnings} or "
            "{file, valid: false, problems}, each problem {file, line, field, message}",
        ),
    ] = False,
) -> None:
    """Check a scenario file; print a summary, or every problem with file, line and field.

    A valid scenario that will likely not do what it seems to (an attack the Link Monitor
    never notices, a constraint no path between two PoPs meets) is still valid: each such
    caveat is printed as a warning with its file, line and field.

    Example: secmas scenario validate scenarios/ddos-6pop.yaml --json"""
    if as_json:
        _validate_as_json(file)
        return
    check_readable(file)
    from secmas.cli.tables import scenario_table
    from secmas.scenario.validation import load_with_warnings

    scenario, caveats = _load(file, load_with_warnings)
    console.print(scenario_table(scenario))
    for caveat in caveats:
        warn(str(caveat))
    say(f"{file}: valid", "green")


def _validate_as_json(file: Path) -> None:
    """`validate --json`: the checked scenario as the run reads it (defaults filled in) and
    its caveats, or its problems with exit 2."""
    from secmas.scenario.loader import ScenarioError
    from secmas.scenario.validation import load_with_warnings

    try:
        scenario, caveats = load_with_warnings(file)
    except ScenarioError as exc:
        problems = [p.to_json() for p in exc.problems]
        print_json({"file": str(file), "valid": False, "problems": problems})
        raise typer.Exit(BAD_INPUT) from None
    print_json(
        {
            "file": str(file),
            "valid": True,
            "scenario": scenario.model_dump(mode="json"),
            "warnings": [c.to_json() for c in caveats],
        }
    )


SPREADS = ("random", "near", "far")
FLAVOUR_NAMES = ("mixed", "small", "medium", "large")


@scenario_app.command("from-topology")
def from_topology(
    key: Annotated[str, typer.Argument(metavar="KEY", help="topohub key, e.g. sndlib/germany50")],
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="FILE", help="the scenario YAML to write")
    ],
    seed: Annotated[
        int,
        typer.Option(
            parser=parse_seed,
            metavar="N",
            help=f"seed for resources, links, traffic, attack ({SEED_RANGE})",
        ),
    ] = 0,
    attack_kind: Annotated[
        str,
        typer.Option(
            metavar="KIND",
            help="an installed attack (the secmas.attacks plug-ins); syn_flood is what the "
            "DDoS agents classify",
        ),
    ] = "syn_flood",
    attackers: Annotated[int, typer.Option(min=1, metavar="N", help="number of attackers")] = 8,
    attack_rate: Annotated[
        float,
        typer.Option(min=0.001, metavar="X", help="MB/s each attacker sends, split over the ports"),
    ] = 0.5,
    attack_ports: Annotated[
        str, typer.Option(metavar="PORTS", help="comma-separated service ports attacked")
    ] = "8000,8080",
    attack_start: Annotated[
        float, typer.Option(min=0.0, metavar="X", help="attack start, s")
    ] = 20.0,
    attack_stop: Annotated[
        float | None,
        typer.Option(metavar="X", help="attack end, s (default: runs to the end)"),
    ] = None,
    attacker_pops: Annotated[
        int | None,
        typer.Option(
            min=1, metavar="N", help="PoPs the attackers sit behind (default: 2 to 4, drawn)"
        ),
    ] = None,
    attack_spread: Annotated[
        str,
        typer.Option(
            metavar="SPREAD", help="which PoPs: random, near (fewest hops to the server) or far"
        ),
    ] = "random",
    pop_flavour: Annotated[
        str,
        typer.Option(
            metavar="FLAVOUR",
            help="PoP size: mixed (drawn), or small/medium/large for all; small PoPs fit no "
            "classifier for a big attack, so the load balancer splits the traffic",
        ),
    ] = "mixed",
    server_bandwidth: Annotated[
        float,
        typer.Option(min=0.001, metavar="X", help="MB/s of the server's link (the monitored one)"),
    ] = 10.0,
    force: ForceFileOption = False,
    as_json: JsonOption = False,
) -> None:
    """Generate a DDoS scenario from a real topology (SNDlib, Topology Zoo, CAIDA, Gabriel).

    The --attack-* options shape the attack; --pop-flavour and
    --server-bandwidth the resources: every branch of the strategy can be hit.
    With sndlib/abilene --seed 3 --pop-flavour small --attackers 16, no PoP
    has room for the classifier, so the load balancer splits the traffic.

    Example: secmas scenario from-topology sndlib/abilene -o abilene.yaml --seed 3"""
    from secmas.scenario.attacks import installed_kinds

    check_new_files(force, ("--out", out))
    with json_mode(as_json):
        try:
            kind = _choice("--attack-kind", attack_kind, tuple(installed_kinds()))
            spread = _choice("--attack-spread", attack_spread, SPREADS)
            flavour = _choice("--pop-flavour", pop_flavour, FLAVOUR_NAMES)
            ports = _ports(attack_ports)
        except ValueError as exc:
            raise fail(str(exc)) from None
        scenario = _generate(
            key, seed, kind, attackers, attack_rate, ports, attack_start, attack_stop,
            attacker_pops, spread, flavour, server_bandwidth,
        )  # fmt: skip
        from secmas.cli.tables import scenario_table
        from secmas.scenario.topology import dump_scenario

        try:
            out.write_text(dump_scenario(scenario), encoding="utf-8")
        except OSError as exc:
            error(f"cannot write {out}: {exc.strerror}")
            raise typer.Exit(BAD_INPUT) from None
        if as_json:
            print_json({"file": str(out), "scenario": scenario.model_dump(mode="json")})
            return
        console.print(scenario_table(scenario))
        say(f"wrote {out}", "green")


def _generate(
    key: str,
    seed: int,
    kind: str,
    attackers: int,
    rate: float,
    ports: tuple[int, ...],
    start: float,
    stop: float | None,
    pops: int | None,
    spread: str,
    flavour: str,
    server_bandwidth: float,
) -> Scenario:
    """The scenario `from-topology` writes, or exit 2 naming what was wrong."""
    from secmas.scenario.topology import (
        AttackShape,
        PoPShape,
        UnknownTopology,
        scenario_from_topology,
    )

    try:
        attack = AttackShape(
            kind=kind,
            attackers=attackers,
            rate=rate,
            ports=ports,
            start=start,
            stop=stop,
            pops=pops,
            spread=spread,  # type: ignore[arg-type]
        )
        shape = PoPShape(flavour=flavour, server_bandwidth=server_bandwidth)  # type: ignore[arg-type]
        return scenario_from_topology(key, seed=seed, attack=attack, pops=shape)
    except UnknownTopology as exc:
        error(str(exc.args[0]))
        raise typer.Exit(BAD_INPUT) from None
    except ValueError as exc:
        error(str(_first_line(exc)))
        raise typer.Exit(BAD_INPUT) from None


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


@app.command("demo")
@with_run_options
def demo(
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
    detector: Annotated[
        str | None,
        typer.Option(
            "--detector",
            metavar="NAME|FILE",
            help="with --scenario cnf-attack --dataplane emulated: the loop's detector, "
            "trained on the normal recording and the run's warm-up (zscore, the default, or "
            "another installed detector: `secmas detect fit --help` lists them) or a model "
            "file of `secmas detect fit`",
        ),
    ] = None,
    recording: Annotated[
        Path | None,
        typer.Option(
            "--recording",
            metavar="FILE",
            help="with --scenario cnf-attack --dataplane emulated: the recording of normal "
            "behaviour (`detect dataset --dataplane emulated`) the detector trains on, with "
            "the run's warm-up (default: the one the package ships)",
        ),
    ] = None,
    channels: Annotated[
        str | None,
        typer.Option(
            "--channels",
            metavar="NAMES",
            help="with --scenario cnf-attack --dataplane emulated: the detection channels "
            "the loop alerts on, comma-separated, each its own alert: level (a metric above "
            "its normal range), onset (a metric rising), model (the detector's window "
            "score); default level",
        ),
    ] = None,
    attack_seed: Annotated[
        int | None,
        typer.Option(
            "--attack-seed",
            metavar="N",
            help="with --scenario cnf-attack --dataplane emulated: the seed the hidden "
            "attacker draws its schedule from (default: the scenario's seed)",
        ),
    ] = None,
    *,
    options: RunOptions,
) -> None:
    """Run an embedded scenario end to end and report it (default: the reference DDoS
    scenario, six PoPs, Section 5.3; with --dataplane emulated, its compressed version
    ddos-emulated on a real network).

    Example: secmas demo --scenario cnf-attack -o runs/cnf"""
    emulated = options.dataplane == "emulated"
    if emulated and scenario == EMBEDDED[0]:
        scenario = "ddos-emulated"
    if scenario not in EMBEDDED:
        error(f"--scenario {scenario!r}: choose one of {', '.join(EMBEDDED)}")
        raise typer.Exit(BAD_INPUT)
    if emulated and scenario == "adaptive-defence":
        scenario = "adaptive-emulated"  # compressed to 28 s; its MTD moves really happen
    if emulated and scenario == "cnf-attack":
        _real_cnf_demo(options, detector, recording, attack_seed, channels)
        return
    for name, value in (
        ("--detector", detector),
        ("--recording", recording),
        ("--channels", channels),
        ("--attack-seed", attack_seed),
    ):
        if value is not None:
            raise fail(f"{name}: only with --scenario cnf-attack --dataplane emulated")
    _run(default_scenario_path(scenario), options)


def _real_cnf_demo(
    options: RunOptions,
    detector: str | None,
    recording: Path | None,
    attack_seed: int | None,
    channels: str | None,
) -> None:
    """`demo --scenario cnf-attack --dataplane emulated`: a real nginx defended by agents
    in this process (`secmas.cli.cnfemulated`); the options of other placements refused."""
    for name, given in (
        ("--processes", options.processes),
        ("--bus", options.bus),
        ("--hosts", options.hosts),
        ("--pods", options.pods),
        ("--speed", options.speed),
        ("--service", options.service),
        ("--federated", options.federated),
        ("--policy", options.policy),
        ("--ui", options.ui),
        ("--taxii", options.taxii),
        ("--mlfo-key", options.mlfo_key),
        ("--secaas-key", options.secaas_key),
        ("--seed", options.seed),
    ):
        if given:  # said, not ignored: the real CNF's demo runs its agents in one process
            raise fail(f"{name}: not with --scenario cnf-attack --dataplane emulated")
    if recording is not None:
        check_readable(recording, "--recording")
    from secmas.cli.cnfemulated import run_demo

    with json_mode(options.as_json):
        run_demo(
            options.out,
            options.metrics_port,
            detector,
            recording,
            as_json=options.as_json,
            attack_seed=attack_seed,
            channels=None if channels is None else channels.split(","),
            ledger=options.ledger,
            insecure=options.insecure,
            plaintext=options.plaintext,
            tamper=options.tamper,
            force=options.force,
        )


@app.command("run")
@with_run_options
def run_scenario(scenario: ScenarioArgument, *, options: RunOptions) -> None:
    """Run a scenario: agents detect and mitigate its attack through auctions.

    Example: secmas run scenarios/ddos-6pop.yaml -o runs/mine --detect"""
    _run(scenario, options)


def _run(scenario: Path, options: RunOptions) -> None:
    """Check the options, plan the run, execute it and print it (`run` and `demo`)."""
    o = options
    set_quiet(o.quiet or o.as_json)
    with json_mode(o.as_json):
        speed_given, pace = o.speed is not None, SPEED if o.speed is None else o.speed
        arguments = RunArguments(
            o.out, o.force, o.processes, o.bus, None, o.metrics_port, o.retrain, o.ui,
            o.ui_port, o.ui_exit, o.insecure, o.plaintext, speed_given,
        )  # fmt: skip
        check_readable(scenario)
        files = (("--service", o.service), ("--policy", o.policy), ("--hosts", o.hosts))
        for option, path in files:
            if path is not None:
                check_readable(path, option)
        check_folder(o.pods, "--pods")
        if o.dataplane is not None and o.dataplane not in ENGINES:
            raise fail(f"--dataplane {o.dataplane!r}: choose simulator or emulated")
        check_run_arguments(arguments)
        access = bus_access(o.bus, o.bus_ca, o.bus_keys)
        # the application layer (scenario model, runtime, ledger) loads from here on
        from secmas.api import RunFailed, RunInputError, execute, placement_of, plan
        from secmas.cli.running import ConsoleRun, print_result, refuse

        try:
            placement = placement_of(
                processes=o.processes, bus=access, speed=pace, hosts=o.hosts, pods=o.pods
            )
            checked = plan(
                scenario,
                engine=o.dataplane,
                placement=placement,
                seed=o.seed,
                detect=o.detect,
                federated=o.federated,
                policy=o.policy,
                taxii=o.taxii,
                tamper=o.tamper,
                ledger=o.ledger,
                insecure=o.insecure,
                plaintext=o.plaintext,
                service=o.service,
                metrics_port=o.metrics_port,
                retrain=o.retrain,
                mlfo_key=o.mlfo_key,
                secaas_key=o.secaas_key,
            )
        except RunInputError as exc:
            raise refuse(exc) from None
        check_closed_loop(replace(arguments, detect=checked.scenario.analytics.detect))
        with live_view(o.ui, o.out, o.ui_port, o.ui_exit, pace) as live:
            observer = ConsoleRun(None if live is None else live.observer(o.processes))
            try:
                result = execute(checked, out=o.out, observer=observer, force=o.force)
            except RunInputError as exc:
                raise refuse(exc) from None
            except RunFailed as exc:
                raise fail(str(exc), FAILED_RUN) from None
            finally:
                observer.close()
            print_result(result, as_json=o.as_json)


@app.command("agent")
def agent(
    pop: Annotated[str, typer.Option("--pop", metavar="POP", help="the PoP this agent controls")],
    bus: Annotated[
        str,
        typer.Option(
            "--bus",
            metavar="URL",
            help="NATS server(s), nats://HOST:PORT or tls://HOST:PORT, comma-separated",
        ),
    ],
    scenario: Annotated[
        Path | None,
        typer.Argument(metavar="SCENARIO", help="scenario YAML file (default: the demo's)"),
    ] = None,
    pipeline: Annotated[
        str | None,
        typer.Option(
            "--pipeline", metavar="NAME", help="pipeline name (default from the scenario)"
        ),
    ] = None,
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger", metavar="URL", help="Ethereum JSON-RPC URL; without it no trust layer"
        ),
    ] = None,
    tamper_at: Annotated[
        float | None,
        typer.Option(
            "--tamper-at",
            hidden=True,
            metavar="X",
            help="demonstrations: patch this agent in memory then",
        ),
    ] = None,
    bus_ca: BusCAOption = None,
    bus_key: Annotated[
        Path | None,
        typer.Option(
            "--bus-key", metavar="FILE", help="this agent's bus key: its nkey seed file (mode 0600)"
        ),
    ] = None,
    ledger_ca: Annotated[
        Path | None,
        typer.Option(
            "--ledger-ca",
            metavar="FILE",
            help="CA (PEM) the https:// ledger's certificate chains to",
        ),
    ] = None,
    ledger_token: Annotated[
        Path | None,
        typer.Option(
            "--ledger-token",
            metavar="FILE",
            help="file holding the ledger's bearer token (mode 0600; default "
            "SECMAS_LEDGER_TOKEN's value)",
        ),
    ] = None,
) -> None:
    """Run one agent as its own process: join the pipeline, get attested and keyed, then
    take part in auctions until the MLFO stops it. Bus credentials of a URL may come in
    the environment variable SECMAS_BUS_AUTH instead of on the command line, the ledger's
    bearer token in SECMAS_LEDGER_TOKEN or a file (--ledger-token).

    Example: secmas agent --pop pop1 --bus nats://127.0.0.1:4222"""
    address = parse_bus(bus)
    check_ca(bus_ca)
    _check_ledger_ca(ledger, ledger_ca)
    check_ca(ledger_ca, "--ledger-ca")
    check_seed(bus_key)
    token = _ledger_token(ledger, ledger_token)
    if scenario is not None:
        check_readable(scenario)
    path = scenario or default_scenario_path()
    from secmas.scenario.validation import load_runnable

    loaded = _load(path, load_runnable)
    if pop not in {p.id for p in loaded.pops}:
        error(f"--pop {pop!r}: not a PoP of {path}")
        raise typer.Exit(BAD_INPUT)
    from secmas.pipeline.agent_process import AgentConfig, run_agent
    from secmas.pipeline.mlfo import pipeline_name
    from secmas.transport.nats import BusUnavailable
    from secmas.trust.enrolment import EnrolmentError
    from secmas.trust.sitelist import AllowListError

    config = AgentConfig(
        pop,
        path,
        address.plain,
        pipeline or pipeline_name(loaded.id),
        ledger,
        tamper_at=tamper_at,
        bus_ca=bus_ca,
        bus_nkey=bus_key,
        bus_auth=address.userinfo,
        ledger_ca=ledger_ca,
        ledger_token=token,
    )
    import asyncio
    import logging

    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {pop} %(levelname)s %(message)s")
    try:
        asyncio.run(run_agent(config, _work_services(loaded)))
    except BusUnavailable as exc:
        error(str(exc))
        raise typer.Exit(FAILED_RUN) from None
    except EnrolmentError as exc:  # no, a wrong or a refused enrolment credential
        error(str(exc))
        raise typer.Exit(BAD_INPUT) from None
    except AllowListError as exc:  # a handed platform allow-list, or a store, not usable
        error(str(exc))
        raise typer.Exit(BAD_INPUT) from None


def _work_services(scenario: Scenario) -> tuple[SeatService, ...]:
    """This agent's parts of the run's work: federated training of the closed loop's
    detector when the scenario has the run's agents train it (`secmas.secagg.fedrun`)."""
    if scenario.analytics.training != "federated":
        return ()
    from secmas.secagg.fedrun import agent_services

    return agent_services(scenario)


def _ledger_token(ledger: str | None, path: Path | None) -> str | None:
    """The bearer token in `--ledger-token`'s file (None: not given); exit 2 on a file
    that cannot be used, or one given without --ledger."""
    if path is None:
        return None
    if ledger is None:
        raise fail("--ledger-token needs --ledger (the ledger whose token it is)")
    from secmas.ledger.keyfile import KeyFileError, read_token_file

    try:
        return read_token_file(path)
    except KeyFileError as exc:
        raise fail(f"--ledger-token: {exc}") from None


def _check_ledger_ca(ledger: str | None, ledger_ca: Path | None) -> None:
    """Exit 2 on a --ledger-ca that would have no effect: only an https:// ledger's
    certificate is checked against it."""
    if ledger_ca is None:
        return
    if ledger is None:
        raise fail("--ledger-ca needs --ledger (the https:// ledger whose CA it is)")
    if not ledger.startswith("https://"):
        raise fail(f"--ledger-ca: only for an https:// --ledger, not {ledger!r}")


def run() -> None:
    """Console-script entry point."""
    app()
