"""The `secmas` command: scenarios, the demo, runs.

Exit codes: 0 success, 2 bad input (scenario files, arguments), 1 a run that failed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from secmas.cli.tables import (
    acceptance_table,
    attestation_table,
    auction_tables,
    placement_table,
    scenario_table,
)
from secmas.cli.wrap import register as register_wrap
from secmas.pipeline.operate import RunError, operate
from secmas.pipeline.secure import PipelineError
from secmas.report.acceptance import acceptance
from secmas.report.files import write_run
from secmas.report.record import build_report
from secmas.scenario.loader import ScenarioError, load_scenario
from secmas.scenario.model import Scenario
from secmas.scenario.topology import UnknownTopology, dump_scenario, scenario_from_topology

BAD_INPUT = 2
FAILED_RUN = 1

app = typer.Typer(
    name="secmas",
    help="Secure multi-agent system for near-real-time control of 6G network services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
scenario_app = typer.Typer(help="Validate scenarios and generate them from real topologies.")
app.add_typer(scenario_app, name="scenario")
register_wrap(app)

console = Console()
errors = Console(stderr=True)


def default_scenario_path() -> Path:
    """The embedded reference scenario (scenarios/ddos-6pop.yaml)."""
    return Path(str(resources.files("secmas") / "data" / "ddos-6pop.yaml"))


def _load(path: Path) -> Scenario:
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        for problem in exc.problems:
            errors.print(f"[red]error[/] {problem}", highlight=False)
        raise typer.Exit(BAD_INPUT) from None


@scenario_app.command("validate")
def validate(file: Annotated[Path, typer.Argument(help="scenario YAML file")]) -> None:
    """Check a scenario file; print a summary, or every problem with file, line and field."""
    console.print(scenario_table(_load(file)))
    console.print(f"[green]{file}: valid[/]")


@scenario_app.command("from-topology")
def from_topology(
    key: Annotated[str, typer.Argument(help="topohub key, e.g. sndlib/germany50")],
    output: Annotated[Path, typer.Option("--output", "-o", help="where to write the YAML")],
    seed: Annotated[int, typer.Option(help="seed for resources, links, traffic, attack")] = 0,
) -> None:
    """Generate a DDoS scenario from a real topology (SNDlib, Topology Zoo, CAIDA, Gabriel)."""
    try:
        scenario = scenario_from_topology(key, seed=seed)
    except UnknownTopology as exc:
        errors.print(f"[red]error[/] {exc.args[0]}", highlight=False)
        raise typer.Exit(BAD_INPUT) from None
    try:
        output.write_text(dump_scenario(scenario), encoding="utf-8")
    except OSError as exc:
        errors.print(f"[red]error[/] cannot write {output}: {exc.strerror}", highlight=False)
        raise typer.Exit(BAD_INPUT) from None
    console.print(scenario_table(scenario))
    console.print(f"[green]wrote {output}[/]")


def _execute(scenario: Scenario, out: Path | None) -> None:
    """Operate the scenario with a progress bar, print the tables, write the files."""
    run_id = f"{scenario.id}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    folder = out or Path("runs") / run_id
    duration = scenario.traffic.duration if scenario.traffic else 0.0
    columns = (
        TextColumn("simulated"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
    )
    if not scenario.security.enabled:
        console.print("[yellow]security is off: agents run unattested and unkeyed[/]")
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("run", total=duration)
            result = asyncio.run(
                operate(
                    scenario,
                    progress=lambda now, _: bar.update(task, completed=now),
                    steps=lambda step: console.print(f"[dim]secure pipeline: {step}[/]"),
                )
            )
    except RunError as exc:
        errors.print(f"[red]error[/] {exc}", highlight=False)
        raise typer.Exit(BAD_INPUT) from None
    except PipelineError as exc:
        errors.print(f"[red]error[/] secure pipeline failed at {exc}", highlight=False)
        raise typer.Exit(FAILED_RUN) from None
    attack = scenario.attack
    start = attack.start if attack else None
    accepted = acceptance(result.telemetry, start, result.capacity.ok)
    report = build_report(result, accepted, run_id)
    for table in auction_tables(report["auctions"]):
        console.print(table)
    console.print(placement_table(report["placements"]))
    if report["trust"]:
        console.print(attestation_table(report["trust"]))
    console.print(acceptance_table(accepted))
    window = None if attack is None else (attack.start, attack.stop or duration)
    try:
        paths = write_run(folder, report, result.journal, result.telemetry, window)
    except OSError as exc:
        errors.print(f"[red]error[/] cannot write the run to {folder}: {exc}", highlight=False)
        raise typer.Exit(FAILED_RUN) from None
    console.print(
        f"{len(report['auctions'])} auctions, {result.messages} bus messages, "
        f"{report['simulated_seconds']:g} simulated s in {result.wall_seconds:.2f} s wall"
    )
    console.print("files: " + ", ".join(str(p) for p in paths))
    if not accepted.passed:
        errors.print("[red]the attack was not mitigated: acceptance figures not met[/]")
        raise typer.Exit(FAILED_RUN)


LedgerOption = Annotated[
    str | None,
    typer.Option(
        "--ledger",
        help="'memory' (in-process EVM, the default) or an Ethereum JSON-RPC URL (http://…)",
    ),
]
InsecureOption = Annotated[
    bool,
    typer.Option("--insecure", help="skip wrapping, attestation and keys (for measurements)"),
]


def _with_security(scenario: Scenario, ledger: str | None, insecure: bool) -> Scenario:
    """The scenario with the command line's security overrides, checked like the file."""
    security = scenario.security
    if ledger is not None:
        try:
            security = security.model_validate({**security.model_dump(), "ledger": ledger})
        except ValueError:
            errors.print(
                f"[red]error[/] --ledger {ledger!r}: expected 'memory' or http(s)://HOST:PORT",
                highlight=False,
            )
            raise typer.Exit(BAD_INPUT) from None
    if insecure:
        security = security.model_copy(update={"enabled": False})
    return scenario.model_copy(update={"security": security})


@app.command()
def demo(
    out: Annotated[
        Path | None, typer.Option(help="folder for the files (default runs/<id>)")
    ] = None,
    ledger: LedgerOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Run the reference DDoS scenario (six PoPs, Section 5.3) end to end and report it."""
    _execute(_with_security(_load(default_scenario_path()), ledger, insecure), out)


@app.command("run")
def run_scenario(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
    out: Annotated[
        Path | None, typer.Option(help="folder for the files (default runs/<id>)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="override the scenario's seed")] = None,
    ledger: LedgerOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Run a scenario: agents detect and mitigate its attack through auctions."""
    loaded = _load(scenario)
    if seed is not None:
        loaded = loaded.model_copy(update={"seed": seed})
    _execute(_with_security(loaded, ledger, insecure), out)


def run() -> None:
    """Console-script entry point."""
    app()
