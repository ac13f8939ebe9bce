"""The emulated CNF from the command line: `secmas demo --scenario cnf-attack --dataplane
emulated` (the closed loop on a real nginx under real attacks, read through a real
Prometheus) and `secmas detect dataset --dataplane emulated` (recordings of it)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from secmas.cli.output import FAILED_RUN, console, detail, fail, print_json, say

if TYPE_CHECKING:
    from rich.table import Table


def _errors() -> tuple[type[Exception], ...]:
    from secmas.analytics.promserver import PrometheusUnavailable
    from secmas.network.emulation.errors import EmulationUnavailable, PlanError
    from secmas.pipeline.errors import RunError

    return (EmulationUnavailable, PlanError, PrometheusUnavailable, RunError)


def _failures() -> tuple[type[Exception], ...]:
    from secmas.analytics.prometheus import PrometheusError
    from secmas.analytics.promserver import PrometheusFailed
    from secmas.network.emulation.errors import EmulationFailed

    return (EmulationFailed, PrometheusError, PrometheusFailed)


def _scenario(path: Path):
    from secmas.scenario.loader import ScenarioError, load_scenario

    try:
        return load_scenario(path)
    except ScenarioError as exc:
        raise fail("; ".join(str(p) for p in exc.problems)) from None


def run_demo(
    scenario_path: Path,
    out: Path | None,
    prometheus: str | None,
    metrics_port: int | None,
    detector: str | None = None,
    recording: Path | None = None,
    *,
    as_json: bool = False,
) -> None:
    """The closed loop on the real CNF (`secmas.api.cnf`); prints the per-attack table (with
    `as_json`, the result's JSON and its files); exit 1 when an attack went undetected or
    unmitigated."""
    from secmas.api import RunFailed, RunInputError
    from secmas.api.cnf import run_cnf
    from secmas.cli.running import ConsoleRun, refuse

    try:
        result = run_cnf(
            scenario_path,
            out=out,
            prometheus=prometheus,
            metrics_port=metrics_port,
            detector=detector,
            recording=recording,
            observer=ConsoleRun(),
        )
    except RunInputError as exc:
        raise refuse(exc) from None
    except RunFailed as exc:
        raise fail(str(exc), FAILED_RUN) from None
    unmitigated = any(r.detected is None or r.effective is None for r in result.reactions)
    if as_json:
        print_json({**result.to_json(), "files": result.files, "passed": not unmitigated})
        if unmitigated:
            raise fail("an attack was not detected or not mitigated", FAILED_RUN)
        return
    console.print(reaction_table(result.to_json()))
    say(f"detector: {result.training['detector']} from {result.training['trained_on']}")
    evaluation = result.evaluation
    per_hour = evaluation.false_alarms_per_hour
    say(
        f"held-out windows: F1 {evaluation.f1:.3f} (precision {evaluation.precision:.3f}, "
        f"recall {evaluation.recall:.3f}); {evaluation.false_alarm_windows} false-alarm "
        f"windows in {evaluation.normal_seconds:g} s of normal time"
        + ("" if per_hour is None else f" ({per_hour:.0f} per hour)")
    )
    waits = result.training["rebaselines"]
    if waits:
        say(
            f"{sum(w['false_alarm_windows'] for w in waits)} of the false-alarm windows came "
            f"while waiting for a clean window before the {len(waits)} re-baselining(s)"
        )
    requests = result.requests
    for phase in ("during_attacks", "outside_attacks"):
        share = requests[phase]["success"]
        say(
            f"legitimate requests {phase.replace('_', ' ')}: {requests[phase]['requests']}, "
            f"{'-' if share is None else f'{share:.1%}'} succeeded"
        )
    say(f"{result.wall_seconds:.0f} s wall; files: " + ", ".join(str(p) for p in result.files))
    if unmitigated:
        raise fail("an attack was not detected or not mitigated", FAILED_RUN)


def reaction_table(report: dict[str, object]) -> Table:
    """Per attack: detected, delay, mitigation, time to mitigate (real measurements), and
    window F1 and false alarms per hour on the attack's windows (`attack_segments`)."""
    from rich.table import Table

    table = Table(
        title="attacks on the real CNF (delays from Prometheus' samples)",
        caption="mitigate s: detection → mitigation in effect; F1, FA/h: window F1 and "
        "false-alarm windows per hour of normal time on the attack's windows (from the "
        "previous attack's windows to its own)",
    )
    for column in ("attack", "detected", "delay s", "mitigation", "mitigate s", "F1", "FA/h"):
        left = column in ("attack", "mitigation")
        table.add_column(column, justify="left" if left else "right", no_wrap=left)
    reactions = report["reactions"]
    assert isinstance(reactions, list)
    for reaction in reactions:
        delay, mitigate = reaction["delay"], reaction["time_to_mitigate"]
        scores = reaction["evaluation"]
        per_hour = scores["false_alarms_per_hour"]
        detected = "no" if reaction["detected"] is None else "yes"
        if reaction["detected"] is not None and not reaction["clean_before"]:
            detected = "yes (window not clean at start)"
        table.add_row(
            reaction["kind"],
            detected,
            "-" if delay is None else f"{delay:.1f}",
            reaction["mitigation"] or "-",
            "-" if mitigate is None else f"{mitigate:.1f}",
            f"{scores['f1']:.2f}",
            "-" if per_hour is None else f"{per_hour:.0f}",
        )
    return table


def record_dataset(
    scenario_path: Path, output: Path, seconds: float, conditions: list[str], labels: bool
) -> Any:
    """`detect dataset --dataplane emulated`: a labelled recording of the real CNF, written
    to `output`; the series."""
    from secmas.network.emulation.cnfattacks import ATTACKS
    from secmas.pipeline.cnf_emulated import CNFRunSettings, record, write_recording

    unknown = [c for c in conditions if c not in ATTACKS]
    if unknown:
        raise fail(
            f"--conditions: the emulated CNF has no {', '.join(unknown)}; known: "
            f"{', '.join(ATTACKS)}"
        )
    if not output.parent.is_dir():
        raise fail(f"cannot write {output}: no folder {output.parent}")
    scenario = _scenario(scenario_path)
    phases = 1 + 2 * len(conditions)
    detail(
        f"recording the real CNF: {phases} phase(s) of {seconds:g} s, about "
        f"{phases * seconds / 60:.1f} min of wall time",
        style="dim",
    )
    folder = Path(tempfile.mkdtemp(prefix="secmas-cnf-record-"))
    try:
        series, times = record(
            scenario,
            folder,
            seconds,
            conditions,
            CNFRunSettings(),
            say=lambda m: detail(m, style="dim"),
        )
    except _errors() as exc:
        raise fail(f"emulated CNF: {exc}") from None
    except _failures() as exc:
        raise fail(f"emulated CNF: {exc} (the run's files: {folder})", FAILED_RUN) from None
    shutil.rmtree(folder, ignore_errors=True)
    try:
        write_recording(output, series, times, labels)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    return series
