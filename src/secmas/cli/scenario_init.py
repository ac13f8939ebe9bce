"""`secmas scenario init`: a complete, commented scenario file for a user to edit.

From a small hand-written network (`--pops N`, three by default) or a topohub topology
(`--topology sndlib/abilene`, through the generator behind `scenario from-topology`); the
YAML and its comments come from `secmas.scenario.starter`. The file is checked as `run`
reads it before it is written, and an existing file is kept unless `--force`. Exit codes:
0 written, 2 bad input (an option out of range, an unknown topology, a file in the way),
with one line naming the option.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from secmas.cli.arguments import SEED_RANGE, ForceFileOption, check_new_files, parse_seed
from secmas.cli.output import BAD_INPUT, console, error, fail, say, warn

if TYPE_CHECKING:
    from secmas.scenario.model import Scenario

MIN_POPS, MAX_POPS = 2, 20
"""`--pops` (as `secmas.scenario.starter`, kept here so the help needs no import of it)."""
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def register(scenario_app: typer.Typer) -> None:
    """Add `scenario init` to the `secmas scenario` command group."""
    scenario_app.command("init")(init)


def init(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="the scenario YAML to write; an existing file needs --force",
        ),
    ],
    pops: Annotated[
        int | None,
        typer.Option(
            "--pops",
            min=MIN_POPS,
            max=MAX_POPS,
            metavar="N",
            help=f"a hand-written network of N PoPs in a ring ({MIN_POPS} to {MAX_POPS}; "
            "default 3), the server behind the last",
        ),
    ] = None,
    topology: Annotated[
        str | None,
        typer.Option(
            "--topology",
            metavar="KEY",
            help="a real topology instead: a topohub key such as sndlib/abilene (as "
            "`scenario from-topology`)",
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            parser=parse_seed,
            metavar="N",
            help=f"the scenario's seed ({SEED_RANGE}); with --topology it draws the network too",
        ),
    ] = 0,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            min=1.0,
            max=100_000.0,
            metavar="S",
            help="simulated seconds the run lasts (default 90 for --pops, 240 for --topology)",
        ),
    ] = None,
    force: ForceFileOption = False,
) -> None:
    """Write a complete scenario, commented section by section, to edit: the network
    (PoPs, links, resources), traffic, attack, the DDoS strategy's goals and their VNFs,
    the Link Monitor's threshold, security, seed and duration.

    Example: secmas scenario init --out my.yaml, then secmas scenario validate my.yaml and
    secmas run my.yaml."""
    if pops is not None and topology is not None:
        raise fail("--pops and --topology: give one (a hand-written network or a real one)")
    check_new_files(force, ("--out", out))
    from secmas.scenario.loader import ScenarioError
    from secmas.scenario.starter import DURATION_S, starter_scenario, starter_yaml, with_duration
    from secmas.scenario.validation import load_with_warnings, runnable_text

    if topology is None:
        count = 3 if pops is None else pops
        seconds = DURATION_S if duration is None else duration
        try:
            scenario = starter_scenario(count, seed, seconds)
        except ValueError as exc:  # the size is checked by --pops itself
            raise fail(f"--duration {seconds:g}: {_gist(exc)}") from None
        origin = _hand_written(count)
    else:
        scenario = _from_topology(topology, seed)
        if duration is not None:
            try:
                scenario = with_duration(scenario, duration)
            except ValueError as exc:
                raise fail(f"--duration {duration:g}: {_gist(exc)}") from None
        origin = _generated(topology, seed, len(scenario.pops))
    text = starter_yaml(scenario, origin, str(out))
    try:
        runnable_text(text, str(out))
    except ScenarioError as exc:  # a bug: what is written must run
        for problem in exc.problems:
            error(str(problem))
        raise typer.Exit(BAD_INPUT) from None
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"--out {out}: cannot write it: {exc.strerror}") from None
    from secmas.cli.tables import scenario_table

    _, caveats = load_with_warnings(out)
    console.print(scenario_table(scenario))
    for caveat in caveats:
        warn(str(caveat))
    say(f"wrote {out}: edit it, then `secmas scenario validate {out}` and `secmas run {out}`")


def _from_topology(key: str, seed: int) -> Scenario:
    from secmas.scenario.topology import UnknownTopology, scenario_from_topology

    try:
        return scenario_from_topology(key, seed=seed)
    except UnknownTopology as exc:
        raise fail(f"--topology {exc}") from None
    except ValueError as exc:  # e.g. a topology without two connected nodes
        raise fail(f"--topology {key}: {_gist(exc)}") from None


def _hand_written(count: int) -> str:
    """The header's line on where the network came from."""
    words = NUMBERS[count] if count < len(NUMBERS) else str(count)
    shape = "joined by one link" if count == 2 else "in a ring"
    return (
        f"A hand-written network of {words} PoPs {shape}: pop1 holds the VNF repository and "
        f"is the largest; the web server sits behind pop{count}, whose Link Monitor watches "
        "its link; clients and attackers sit behind the other PoPs."
    )


def _generated(key: str, seed: int, count: int) -> str:
    return (
        f"Generated from the topohub topology {key} with seed {seed}: {count} PoPs, pop<N> is "
        "node N of its largest connected part. PoP sizes, link bandwidths and losses, and "
        "where the server, clients and attackers sit were drawn from the seed; latencies "
        "follow the nodes' distance where the topology has coordinates."
    )


def _gist(exc: ValueError) -> str:
    """A model error's message without pydantic's wrapping."""
    errors_of = getattr(exc, "errors", None)
    if callable(errors_of) and errors_of():
        return str(errors_of()[0].get("msg", exc)).removeprefix("Value error, ")
    return str(exc)
