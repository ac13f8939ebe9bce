"""A run on the console: what `secmas run` and `secmas demo` show while the application
layer (`secmas.api`) runs a scenario, and the tables they print after it.

`ConsoleRun` is the run's observer: step lines, notes and warnings, a spinner while the
models load, a progress bar on the simulated clock (where no bar can draw, in a pipe or a
file, a line per tenth of the run instead), and the live page of `--ui` when one rides
along. `finish_run` prints the report and decides the exit code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from secmas.api import RunInputError, RunObserver
from secmas.cli.adaptive import print_adaptive
from secmas.cli.output import (
    BAD_INPUT,
    FAILED_RUN,
    console,
    detail,
    error,
    errors,
    line,
    print_json,
    progress_console,
    say,
    styled,
    warn,
)
from secmas.cli.tables import (
    acceptance_table,
    alert_table,
    attestation_summary,
    attestation_table,
    auction_tables,
    channel_summary,
    compliance_table,
    detection_table,
    enforcement_table,
    gas_summary,
    gas_table,
    placement_table,
    vnf_instance_table,
    workflow_table,
)

if TYPE_CHECKING:
    from secmas.api import RunResult
    from secmas.scenario.model import Scenario

PROGRESS_LINES = 10
"""Lines a run prints over its simulated time when its output is not a terminal."""
FLAGS = {"engine": "--dataplane"}
"""Run parameters whose command-line option is not `--` + their name."""


def flag(option: str) -> str:
    """The command-line option of a run parameter."""
    return FLAGS.get(option, "--" + option.replace("_", "-"))


def refuse(exc: RunInputError) -> typer.Exit:
    """Print every problem of a refused run (exit 2)."""
    for problem in exc.lines(flag):
        error(problem)
    return typer.Exit(BAD_INPUT)


class ConsoleRun(RunObserver):
    """The console while a run goes on, and `live` (the page of --ui) told the same."""

    def __init__(self, live: RunObserver | None = None) -> None:
        self.live = live
        self._bar: Progress | None = None
        self._task: Any = None
        self._lines = 0
        self._started = time.monotonic()

    def note(self, text: str) -> None:
        detail(text, style="dim")

    def warning(self, text: str) -> None:
        warn(text)

    @contextmanager
    def busy(self, what: str) -> Iterator[None]:
        spinner = (SpinnerColumn(), TextColumn(what), TimeElapsedColumn())
        with Progress(*spinner, console=progress_console(), transient=True) as bar:
            bar.add_task(what, total=None)
            yield

    def begin(self, scenario: Scenario, run_id: str, folder: Path) -> None:
        self.duration = scenario.traffic.duration if scenario.traffic else 0.0
        if self.live is not None:
            self.live.begin(scenario, run_id, folder)

    def step(self, number: str, name: str) -> None:
        self._start_bar()
        detail(f"step {number}: {name}", style="dim")
        if self.live is not None:
            self.live.step(number, name)

    def progress(self, now: float, duration: float) -> None:
        self._start_bar()
        if self._bar is not None:
            self._bar.update(self._task, completed=now)
        self._progress_line(now, duration)
        if self.live is not None:
            self.live.progress(now, duration)

    def _progress_line(self, now: float, duration: float) -> None:
        """Where the bar cannot draw: a line each time the run passes another tenth."""
        if console.is_terminal or duration <= 0:
            return
        passed = min(int(now / duration * PROGRESS_LINES), PROGRESS_LINES)
        if passed > self._lines:
            self._lines = passed
            wall = time.monotonic() - self._started
            detail(
                f"simulated {now:.0f}/{duration:.0f} s ({now / duration:.0%}), {wall:.1f} s wall",
                style="dim",
            )

    def loop(self, watch: Sequence[Any]) -> Any | None:
        return None if self.live is None else self.live.loop(watch)

    def finish(self, passed: bool) -> None:
        self.close()
        if self.live is not None:
            self.live.finish(passed)

    def _start_bar(self) -> None:
        """The bar on the simulated clock, where one can draw (a terminal)."""
        if self._bar is not None or not console.is_terminal:
            return
        columns = (
            TextColumn("simulated"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        )
        self._bar = Progress(*columns, console=progress_console(), transient=True)
        self._task = self._bar.add_task("run", total=self.duration)
        self._bar.start()

    def close(self) -> None:
        """Stop the progress bar (the run ended, or stopped)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def print_result(result: RunResult, as_json: bool = False) -> None:
    """The run's tables, as Table 5.8 and the figures of Section 5.4, and its files; with
    `as_json`, `result_json` instead (printed before a failed run exits 1)."""
    if as_json:
        print_json(result_json(result))
        if not result.passed:
            for reason in _why(result):
                errors.print(line(("why:", "red"), " ", reason), soft_wrap=True)
            raise typer.Exit(FAILED_RUN)
        return
    report = result.report
    detail(*auction_tables(report["auctions"]), placement_table(report["placements"]))
    if report["trust"]:
        detail(attestation_table(report["trust"]))
        console.print(attestation_summary(report["trust"]))
        if report["trust"].get("gas"):
            detail(gas_table(report["trust"]["gas"]))
            console.print(gas_summary(report["trust"]["gas"]))
        console.print(channel_summary(report["trust"]["channel"]))
    detail(workflow_table(report["workflow"]))
    if report["analytics"]:
        detail(alert_table(report["analytics"]))
        if "run_score" not in report["analytics"]:  # the real CNF's loop: scored after the run
            console.print(detection_table(report["analytics"]))
    if report["policy"]:
        _print_policy(report["policy"])
    print_adaptive(report)
    console.print(acceptance_table(result.acceptance))
    if report.get("emulation"):
        _print_requests(report["emulation"])
    console.print(
        f"{len(report['auctions'])} auctions, {result.messages} bus messages, "
        f"{report['simulated_seconds']:g} simulated s in {result.wall_seconds:.2f} s wall"
    )
    loop = report["loop"]
    if loop["count"]:
        console.print(
            f"event to enforced rule: {loop['count']} times, p50 {loop['p50_ms']:.1f} ms, "
            f"p99 {loop['p99_ms']:.1f} ms wall"
        )
    say("files: " + ", ".join(str(p) for p in result.paths))  # unwrapped: paths stay whole
    if not result.passed:
        errors.print(styled(_verdict(result), "red"))
        for reason in _why(result):
            errors.print(line(("why:", "red"), " ", reason), soft_wrap=True)
        raise typer.Exit(FAILED_RUN)


def _verdict(result: RunResult) -> str:
    """A failed run's headline: figures it missed, or could not measure (which is no pass)."""
    if result.acceptance.not_measured:
        return "acceptance not met: the run could not measure its figures"
    return "the attack was not mitigated: acceptance figures not met"


def result_json(result: RunResult) -> dict[str, Any]:
    """What `run --json` and `demo --json` print: the verdict, the acceptance figures and
    where the files are (report.json holds the whole report)."""
    report = result.report
    return {
        "run_id": result.run_id,
        "scenario": report["scenario"],
        "passed": result.passed,
        "acceptance": result.acceptance.as_dict(),
        "auctions": len(report["auctions"]),
        "messages": result.messages,
        "simulated_seconds": report["simulated_seconds"],
        "wall_seconds": result.wall_seconds,
        "folder": result.folder,
        "files": result.paths,
        "why": list(_why(result)) if not result.passed else [],
    }


def _why(result: RunResult) -> tuple[str, ...]:
    """Why a failed run failed, said again last (the reasons were warned as the run ended,
    above its tables); a run without an auction says so even where its figures show no
    cause."""
    reasons = result.acceptance.reasons
    if reasons or result.report["auctions"]:
        return reasons
    return (
        "no auction ran: the Link Monitor never saw its link over the threshold, so the agents "
        "never started the DDoS strategy (`secmas scenario validate` checks the attack against "
        "the threshold)",
    )


def _print_requests(emulation: dict[str, Any]) -> None:
    """The emulated run's legitimate HTTP requests, phase by phase (real counts), after
    whether its links delayed packets (when they did not) and how its VNFs ran."""
    said = emulation.get("link_latency", {}).get("said")
    if said:
        console.print(styled(said, "dim"))
    console.print(styled(emulation["vnf_workloads"], "dim"))
    if emulation["vnf_instances"]:
        detail(vnf_instance_table(emulation["vnf_instances"]))
    for window in emulation["requests"]:
        share = "-" if window["success"] is None else f"{window['success']:.1%}"
        console.print(
            f"legitimate requests {window['phase']} ({window['start']:g}–{window['end']:g} s): "
            f"{window['succeeded']}/{window['requests']} succeeded ({share}), "
            f"{window['bytes_per_second'] / 1000:.1f} kB/s"
        )


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
