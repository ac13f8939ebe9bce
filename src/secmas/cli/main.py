"""The `secmas` command: scenarios, the demo, runs.

Exit codes: 0 success, 2 bad input (scenario files, arguments), 1 a run that failed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from secmas.agents.bidding import BidContext, GoalRequest, compute_bid
from secmas.agents.outcome import AuctionOutcome
from secmas.cli.tables import auction_table, scenario_table
from secmas.network.infrastructure import Infrastructure
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


# The auctions of Table 5.8 as (goal, auctioneer, traffic MB/s) on the initial state.
EXAMPLE_AUCTIONS = (
    ("linkRateLimited", "pop6", 0.0),
    ("anomalousUsage", "pop6", 4.0),
    ("ipRateLimited", "pop5", 0.0),
    ("flowRecord", "pop5", 2.0),
    ("splitTrafficTowardsIp", "pop5", 0.0),
    ("flowRecord", "pop5", 1.0),
)


@app.command()
def demo(
    scenario: Annotated[
        Path | None, typer.Option(help="scenario file (default: the embedded ddos-6pop)")
    ] = None,
) -> None:
    """Run the reference scenario's auctions and print their bids (as Table 5.8)."""
    loaded = _load(scenario or default_scenario_path())
    infra = Infrastructure.from_scenario(loaded)
    ctx = BidContext(infra)
    for goal, auctioneer, traffic in EXAMPLE_AUCTIONS:
        if auctioneer not in infra.pops:
            continue
        spec = loaded.goal(goal)
        request = GoalRequest(
            goal, auctioneer, spec.preferences, spec.constraints, spec.vnfs, traffic
        )
        replies = (compute_bid(infra, pop, request, ctx) for pop in infra.pops)
        outcome = AuctionOutcome.from_replies(request, replies)
        console.print(auction_table(outcome))


def run() -> None:
    """Console-script entry point."""
    app()
