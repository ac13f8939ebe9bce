"""The emulated CNF from the command line: `secmas demo --scenario cnf-attack --dataplane
emulated` (the agents defend a real nginx under real attacks, each mitigation a goal they
auction) and `secmas detect dataset --dataplane emulated` (recordings of the real CNF,
read through a real Prometheus)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from secmas.cli.output import FAILED_RUN, console, detail, fail

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
    out: Path | None,
    metrics_port: int | None,
    detector: str | None = None,
    recording: Path | None = None,
    channels: list[str] | None = None,
    *,
    as_json: bool = False,
    **options: Any,
) -> None:
    """The agents defend the real CNF (`secmas.api.cnf`): the run's tables with, first, one
    row per mitigation (with `as_json`, the run's JSON); exit 1 when the run missed its
    acceptance figures (`options`: `secmas.api.run`'s)."""
    from secmas.api import RunFailed, RunInputError
    from secmas.api.cnf import run_cnf
    from secmas.cli.running import ConsoleRun, print_result, refuse

    observer = ConsoleRun()
    try:
        result = run_cnf(
            out=out,
            metrics_port=metrics_port,
            detector=detector,
            recording=recording,
            channels=channels,
            observer=observer,
            **options,
        )
    except RunInputError as exc:
        raise refuse(exc) from None
    except RunFailed as exc:
        raise fail(str(exc), FAILED_RUN) from None
    finally:
        observer.close()
    if not as_json:
        analytics = result.report["analytics"]
        console.print(mitigation_table(analytics))
        if "run_score" in analytics:
            console.print(score_table(analytics["run_score"]))
    print_result(result, as_json=as_json)


def mitigation_table(analytics: dict[str, Any]) -> Table:
    """Per decision of the closed loop: the condition under way, the detection delay, the
    goal, its auction and winner, and the time to mitigate (from real measurements)."""
    from rich.table import Table

    real = analytics["real_cnf"]
    table = Table(
        title="mitigations of the real CNF, each auctioned among the agents",
        caption=f"detector: {real['detector']} from {real['trained_on']} normal steps; "
        "condition: the attack under way, from the attacker's own record after the run; "
        "delay: its start → alert; mitigate s: alert → the metrics it acts on back within "
        "their normal bounds, read from the real CNF",
    )
    columns = ("t s", "condition", "delay s", "goal", "auction", "winner", "mitigate s")
    for column in columns:
        left = column in ("condition", "goal", "auction", "winner")
        table.add_column(column, justify="left" if left else "right", no_wrap=left)
    for row in analytics["mitigations"]:
        delay, mitigate = row.get("delay"), row["time_to_mitigate"]
        table.add_row(
            f"{row['detected_at']:.0f}",
            row.get("condition") or "none (false alarm)",
            "-" if delay is None else f"{delay:.1f}",
            row["goal"],
            row["auction"] or "-",
            row["winner"] or "-",
            "-" if mitigate is None else f"{mitigate:.1f}",
        )
    return table


def score_table(score: dict[str, Any]) -> Table:
    """Per attack of the hidden attacker: when it ran, the loop's detection delay and time
    to mitigate; the caption: false alerts and needless mitigations per hour."""
    from rich.table import Table

    median = score["median_delay"]
    table = Table(
        title=f"the loop against the hidden attacker: {score['detected']} attacks detected"
        + (
            f", {score['mitigated_before_detection']} mitigated before detection"
            if score.get("mitigated_before_detection")
            else ""
        )
        + ("" if median is None else f", median delay {median:.1f} s"),
        caption=f"over {score['normal_seconds']:g} s of normal time: "
        f"{score['false_alerts']} false alerts ({score['false_alerts_per_hour']:g}/h), "
        f"{score['needless_mitigations']} needless mitigations "
        f"({score['needless_mitigations_per_hour']:g}/h)",
    )
    for column in ("attack", "start s", "stop s", "delay s", "mitigate s"):
        table.add_column(column, justify="left" if column == "attack" else "right")
    for attack in score["attacks"]:
        delay, mitigate = attack["delay"], attack["time_to_mitigate"]
        table.add_row(
            str(attack["kind"]),
            f"{attack['start']:.1f}",
            f"{attack['stop']:.1f}",
            _missed(attack) if delay is None else f"{delay:.1f}",
            "-" if mitigate is None else f"{mitigate:.1f}",
        )
    return table


def _missed(attack: dict[str, Any]) -> str:
    """An undetected attack in words: held off by a standing remedy, or missed (and whether
    it left anything above the CNF's normal bounds)."""
    if attack.get("mitigated_before_detection"):
        return "mitigated before detection"
    return "missed" if attack.get("showed", True) else "missed (no effect seen)"


@dataclass(frozen=True)
class RecordingShape:
    """What `detect dataset --dataplane emulated` records beyond its phases: realistic
    normal traffic (`trafficprofile.TrafficProfile`'s defaults, nginx restarted halfway
    through the first normal phase) and the attacks' share of their full size."""

    realistic: bool = False
    attack_size: float = 1.0
    seed: int = 0
    """The testbed's seed: the clients' schedules."""

    def settings(self, seconds: float) -> Any:
        """The testbed's settings for phases of `seconds`."""
        from secmas.network.emulation.cnfattacks import AttackSettings
        from secmas.network.emulation.trafficprofile import TrafficProfile
        from secmas.pipeline.cnf_emulated import CNFRunSettings

        return CNFRunSettings(
            seed=self.seed,
            attack=AttackSettings().scaled(self.attack_size),
            traffic=TrafficProfile() if self.realistic else None,
            restart_after=seconds / 2 if self.realistic else None,
        )


def record_dataset(
    scenario_path: Path,
    output: Path,
    seconds: float,
    conditions: list[str],
    labels: bool,
    shape: RecordingShape,
) -> Any:
    """`detect dataset --dataplane emulated`: a labelled recording of the real CNF, written
    to `output`; the series."""
    from secmas.network.emulation.cnfattacks import attacks
    from secmas.pipeline.cnf_emulated import record, write_recording

    known = attacks()
    unknown = [c for c in conditions if c not in known]
    if unknown:
        raise fail(
            f"--conditions: the emulated CNF has no {', '.join(unknown)}; known: {', '.join(known)}"
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
            shape.settings(seconds),
            say=lambda m: detail(m, style="dim"),
        )
    except _errors() as exc:
        raise fail(f"emulated CNF: {exc}") from None
    except _failures() as exc:
        raise fail(f"emulated CNF: {exc} (the run's files: {folder})", FAILED_RUN) from None
    except KeyboardInterrupt:  # SIGINT or SIGTERM: the user stopped it, nothing to keep
        shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    try:
        write_recording(output, series, times, labels)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    return series
