"""The run folders under a directory (`runs/` by default): found, read, checked, cached.

A run is a folder holding report.json; its id is the folder's name, whatever it holds
(spaces included), except a separator or a control character. An id is only ever looked
up among the folders listed directly under the directory, so it can never reach outside
it. A report.json that cannot be read (a directory, a link to nothing, a FIFO: never
opened) or does not fit the schema, and a folder whose name cannot be an id, are listed
with the reason instead of being served. Non-finite numbers (`Infinity`, `NaN`, which
strict JSON has not) are read as null.

The run's scenario is its folder's scenario.yaml or, when it has none, the embedded
scenario of the id report.json names. A scenario.yaml that cannot be read, or is another
scenario, is shown as such with the reason, not replaced by the embedded one: that one
may differ from what ran.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from secmas.scenario.loader import Problem, ScenarioError, load_scenario
from secmas.scenario.model import Scenario
from secmas.ui import minds, views
from secmas.ui.adaptive import CtiView, MtdView, cti_view, mtd_view
from secmas.ui.compliance import SslaView, ssla_view
from secmas.ui.figures import key_figures
from secmas.ui.models import (
    AuditEntryView,
    AuditView,
    Figure,
    Ledger,
    Metrics,
    Report,
    RunDetail,
    RunSummary,
    ScenarioView,
    Series,
)
from secmas.ui.network import NetworkView, network_view
from secmas.ui.topology import scenario_view

RUN_ID = r"^[^/\\\x00-\x1f\x7f]{1,255}$"
"""What a run id (a folder name) may look like: no separator, no control character."""
_RUN_ID = re.compile(RUN_ID)
_SCENARIO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

SCENARIO_FILE = "scenario.yaml"
REPORT_FILE = "report.json"
DECISIONS_FILE = "cti-decisions.csv"
"""The CTI publisher's decision table (secmas.cti.placement.DECISIONS_FILE, not imported:
that module loads the STIX and TAXII stack)."""


class UnknownRun(LookupError):
    """No run of that id under the directory."""


class UnreadableRun(ValueError):
    """A file of the run folder cannot be read (report.json: also, does not fit the schema);
    the message names the file, relative to the folder."""


def valid_id(run_id: str) -> bool:
    return bool(_RUN_ID.fullmatch(run_id)) and run_id not in (".", "..") and _encodable(run_id)


def _encodable(name: str) -> bool:
    """Not a name of undecodable bytes (surrogate escapes cannot go into JSON or a URL)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_name(name: str) -> str:
    """A folder name that cannot be an id, as printable ASCII (escapes for the rest)."""
    return str(name.encode("utf-8", "surrogateescape"))[2:-1]


@dataclass(frozen=True)
class LoadedRun:
    """One run's report, checked against the schema, and its scenario when found."""

    id: str
    folder: Path
    report: Report
    modified: str
    scenario: Scenario | None
    scenario_source: str
    scenario_problem: str | None = None
    """Why the folder's scenario.yaml cannot be shown, when it cannot."""
    views: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """What was worked out from it once (the topology's layout): a run's files only change
    into a new LoadedRun."""


def embedded_scenario(scenario_id: str) -> Scenario | None:
    """The embedded scenario of that id (secmas/data/<id>.yaml), if there is one."""
    if not _SCENARIO_ID.fullmatch(scenario_id):
        return None
    path = Path(str(resources.files("secmas") / "data" / f"{scenario_id}.yaml"))
    if not path.is_file():
        return None
    try:
        scenario = load_scenario(path)
    except ScenarioError:
        return None
    return scenario if scenario.id == scenario_id else None


def _file_status(path: Path) -> os.stat_result:
    """The status of `path` when it is a regular file. UnreadableRun when it is something
    else (a FIFO or a device is never opened: reading one could wait forever) or a link
    that leads nowhere; OSError when nothing is there."""
    try:
        status = path.stat()
    except OSError as exc:
        if not path.is_symlink():
            raise
        reason = exc.strerror or str(exc)
        raise UnreadableRun(f"{path.name} is a link that cannot be followed: {reason}") from None
    if stat.S_ISDIR(status.st_mode):
        raise UnreadableRun(f"{path.name} is a directory, not a file")
    if not stat.S_ISREG(status.st_mode):
        raise UnreadableRun(f"{path.name} is not a regular file")
    return status


_Signature = tuple[int, int]
_Versions = tuple[int, int, _Signature | None]
"""What a cached run was read from: report.json's signature, then scenario.yaml's."""


def _signature(path: Path) -> _Signature | None:
    """What tells a new version of a file: its mtime and size (None: nothing readable)."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def run_scenario(folder: Path, scenario_id: str) -> tuple[Scenario | None, str, str | None]:
    """The run's scenario, where it came from and, when the folder's scenario.yaml cannot
    be shown, why (module docstring): the embedded scenario stands in only for a folder
    without one."""
    path = folder / SCENARIO_FILE
    if not (path.exists() or path.is_symlink()):
        embedded = embedded_scenario(scenario_id)
        if embedded is None:
            return None, "not found", None
        return embedded, f"embedded scenario {scenario_id}", None
    try:
        _file_status(path)
        scenario = load_scenario(path)
    except UnreadableRun as exc:
        return None, SCENARIO_FILE, str(exc)
    except ScenarioError as exc:
        return None, SCENARIO_FILE, _scenario_problem(exc.problems)
    if scenario.id != scenario_id:
        problem = f"{SCENARIO_FILE} is scenario {scenario.id!r}, but report.json names "
        return None, SCENARIO_FILE, problem + repr(scenario_id)
    return scenario, SCENARIO_FILE, None


def _scenario_problem(problems: list[Problem]) -> str:
    """The first problem of scenario.yaml, named relative to the run folder."""
    first = problems[0]
    named = Problem(SCENARIO_FILE, first.path, first.message, first.line)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{named}{more}"


def read_report(path: Path) -> Report:
    """report.json checked against the schema; UnreadableRun says why it is not."""
    try:
        data = json.loads(
            path.read_text(encoding="utf-8"), parse_constant=_null, parse_float=_finite_float
        )
    except OSError as exc:
        raise UnreadableRun(f"{path.name}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UnreadableRun(f"{path.name}: not UTF-8 text: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise UnreadableRun(f"{path.name}: line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise UnreadableRun(f"{path.name}: not a JSON object")
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise UnreadableRun(f"{path.name}: {where}: {first['msg']}{more}") from None


def _null(_constant: str) -> None:
    """Infinity, -Infinity and NaN: no measurement, as strict JSON writes it (null)."""
    return None


def _finite_float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


class RunStore:
    """The runs under `root`: the folders directly in it that hold report.json (and
    `root` itself when it is one)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[Path, tuple[_Versions, LoadedRun]] = {}
        self._lock = threading.Lock()

    def scan(self) -> list[Path]:
        """Every folder holding report.json (the directory itself first when it is one),
        newest first."""
        found: list[Path] = []
        if _is_run(self.root):
            found.append(self.root)
        try:
            children = sorted(self.root.iterdir())
        except OSError:
            children = []
        found += [c for c in children if _is_run(c)]
        found.sort(key=lambda f: _mtime(f / REPORT_FILE), reverse=True)
        return found

    def folders(self) -> dict[str, Path]:
        """Run id → folder, newest first: those whose name can be an id."""
        return {f.name: f for f in self.scan() if valid_id(f.name)}

    def folder(self, run_id: str) -> Path:
        if not valid_id(run_id):
            raise UnknownRun(f"{run_id!r} is not a run id")
        folder = self.folders().get(run_id)
        if folder is None:
            raise UnknownRun(f"no run {run_id!r} under {self.root}")
        return folder

    def load(self, run_id: str) -> LoadedRun:
        """The run's checked report and scenario (cached until report.json or
        scenario.yaml changes)."""
        folder = self.folder(run_id)
        path = folder / REPORT_FILE
        try:
            status = _file_status(path)
        except OSError as exc:
            raise UnknownRun(f"run {run_id!r}: {exc.strerror}") from None
        key = (status.st_mtime_ns, status.st_size, _signature(folder / SCENARIO_FILE))
        with self._lock:
            cached = self._cache.get(folder)
        if cached is not None and cached[0] == key:
            return cached[1]
        report = read_report(path)
        scenario, source, problem = run_scenario(folder, report.scenario)
        modified = datetime.fromtimestamp(status.st_mtime, UTC).isoformat(timespec="seconds")
        run = LoadedRun(run_id, folder, report, modified, scenario, source, problem)
        with self._lock:
            self._cache[folder] = (key, run)
        return run

    def summaries(self) -> list[RunSummary]:
        """Every run, readable or not."""
        out = []
        for folder in self.scan():
            modified = datetime.fromtimestamp(_mtime(folder / REPORT_FILE), UTC)
            problem = None
            if not valid_id(folder.name):
                problem = "the folder's name has a control character or undecodable bytes: "
                problem += "rename the folder to see the run"
            else:
                try:
                    out.append(summary(self.load(folder.name)))
                    continue
                except (UnreadableRun, UnknownRun) as exc:
                    problem = str(exc)
            out.append(
                RunSummary(
                    id=folder.name if valid_id(folder.name) else shown_name(folder.name),
                    readable=False,
                    problem=problem,
                    modified=modified.isoformat(timespec="seconds"),
                )
            )
        return out

    def detail(self, run_id: str) -> RunDetail:
        return detail(self.load(run_id))


def _is_run(folder: Path) -> bool:
    """A folder with something named report.json: a file, or not (listed with why)."""
    report = folder / REPORT_FILE
    try:
        return folder.is_dir() and (report.exists() or report.is_symlink())
    except OSError:
        return False


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def summary(run: LoadedRun) -> RunSummary:
    report = run.report
    trust = report.trust
    return RunSummary(
        id=run.id,
        readable=True,
        run_id=report.run_id,
        scenario=report.scenario,
        seed=report.seed,
        pops=report.pops,
        simulated_seconds=report.simulated_seconds,
        wall_seconds=report.wall_seconds,
        auctions=len(report.auctions),
        attestations=len(trust.attestations) if trust else 0,
        alerts=len(views.run_alerts(report)),
        secure=trust is not None,
        passed=report.acceptance.passed,
        policy=report.policy is not None,
        analytics=report.analytics is not None,
        audit=(run.folder / "audit.jsonl").is_file(),
        cti=report.cti is not None,
        mtd=report.mtd is not None,
        cnfs=sorted(cnf_metrics(run)),
        engine=report.engine,
        modified=run.modified,
    )


def scenario_of(run: LoadedRun) -> ScenarioView:
    """The run's scenario with its topology, or what report.json says without one."""
    if run.scenario is not None:
        if "scenario" not in run.views:
            run.views["scenario"] = scenario_view(run.scenario, run.scenario_source)
        return run.views["scenario"]
    report = run.report
    return ScenarioView(
        id=report.scenario,
        seed=report.seed,
        source=run.scenario_source,
        duration=report.simulated_seconds,
        problem=run.scenario_problem,
    )


def ledger(run: LoadedRun) -> Ledger | None:
    trust = run.report.trust
    if trust is None:
        return None
    anchors = None
    policy = run.report.policy
    if policy and isinstance(policy.get("audit"), dict):
        anchors = policy["audit"].get("anchors")
    return Ledger(
        pipeline=trust.pipeline,
        ledger=trust.ledger,
        contracts=trust.contracts,
        image=trust.image,
        plan=trust.plan,
        setup_tx=trust.setup_tx,
        attestations=trust.attestations,
        key_epochs=trust.key_epochs,
        audit_anchors=anchors,
    )


def audit(run: LoadedRun) -> AuditView | None:
    """audit.jsonl, verified against audit-anchors.json beside it, if the run has one."""
    from secmas.policy.audit import (
        ANCHORS_FILE,
        AUDIT_FILE,
        AuditFormatError,
        read_anchors,
        read_log,
        verify,
    )
    from secmas.policy.notary import NotaryError, check_anchors, pinned_key

    path = run.folder / AUDIT_FILE
    if not path.is_file():
        return None
    try:
        entries = read_log(path)
    except (OSError, AuditFormatError) as exc:
        return AuditView(entries=[], intact=False, reason=str(exc))
    anchors: list[tuple[int, str]] = []
    sealed = None
    anchors_path = run.folder / ANCHORS_FILE
    if anchors_path.is_file():
        try:
            anchor_file = read_anchors(anchors_path)
            if anchor_file.anchors:  # only what the user's notary signed counts, as in verify
                signed = check_anchors(anchor_file, pinned_key(None))
                anchors, sealed = signed.points, signed.sealed
        except (OSError, AuditFormatError, ValueError, NotaryError) as exc:
            return _audit_view(entries, False, f"{ANCHORS_FILE}: {exc}", 0)
    check = verify(entries, anchors, sealed)
    return _audit_view(entries, check.ok, check.reason, check.anchors_confirmed)


def _audit_view(entries: list[Any], intact: bool, reason: str | None, confirmed: int) -> AuditView:
    return AuditView(
        entries=[
            AuditEntryView(
                seq=e.seq,
                time=e.time,
                actor=e.actor,
                decision=e.decision,
                explanation=e.explanation,
                hash=e.hash,
            )
            for e in entries
        ],
        intact=intact,
        reason=reason,
        anchors_confirmed=confirmed,
    )


TRAFFIC = ("legit", "attack", "offered_legit", "offered_attack", "monitored")
SHORT_UNITS = {
    "megabytes": "MB",
    "megabytes_per_second": "MB/s",
    "milliseconds": "ms",
    "requests_per_second": "requests/s",
}
"""Prometheus unit names (`secmas.analytics.monitoring.UNITS`) as a chart's axis says them."""


def metrics(run: LoadedRun) -> Metrics:
    """The traffic series and, per CNF, metrics-<cnf>.csv."""
    telemetry = run.report.telemetry
    traffic = Series(
        t=[p.t for p in telemetry],
        values={name: [getattr(p, name) for p in telemetry] for name in TRAFFIC},
        units=dict.fromkeys(TRAFFIC, "MB/s"),
    )
    return Metrics(traffic=traffic, cnfs=cnf_metrics(run))


def cnf_metrics(run: LoadedRun) -> dict[str, Series]:
    """Per CNF, its metrics-<cnf>.csv (read once per report.json), with each metric's unit."""
    if "cnfs" not in run.views:
        cnfs = {}
        for path in sorted(run.folder.glob("metrics-*.csv")):
            series = _csv_series(path)
            if series is not None:
                series.units = metric_units(series.values)
                cnfs[path.stem.removeprefix("metrics-")] = series
        run.views["cnfs"] = cnfs
    return run.views["cnfs"]


def metric_units(names: Iterable[str]) -> dict[str, str]:
    """The units of the CNF metrics among `names` (those the Monitoring Service exports)."""
    from secmas.analytics.monitoring import UNITS

    return {
        name: SHORT_UNITS.get(UNITS[name], UNITS[name].replace("_", " "))
        for name in names
        if name in UNITS
    }


def network(run: LoadedRun) -> NetworkView:
    """Steered paths and blocked flows (from the journal's actions and SSLA enforcements)."""
    if "network" not in run.views:
        report = run.report
        enforcements = (report.policy or {}).get("enforcements", [])
        run.views["network"] = network_view(
            (a.model_dump() for a in report.actions),
            enforcements if isinstance(enforcements, list) else [],
        )
    return run.views["network"]


def figures(run: LoadedRun) -> list[Figure]:
    """The run's key figures (`secmas.ui.figures`)."""
    report = run.report
    return key_figures(report, views.run_alerts(report), network(run), ssla(run))


def cti(run: LoadedRun) -> CtiView | None:
    """CTI hygiene and the sharing decisions (cti-decisions.csv beside report.json)."""
    section = run.report.cti
    if section is None:
        return None
    if "cti" not in run.views:
        run.views["cti"] = cti_view(section, _csv_rows(run.folder / DECISIONS_FILE))
    return run.views["cti"]


def mtd(run: LoadedRun) -> MtdView | None:
    """The moving target defence's moves, predicted against measured."""
    return None if run.report.mtd is None else mtd_view(run.report.mtd)


def ssla(run: LoadedRun) -> SslaView | None:
    """The SSLA terms over the run (None when no SSLA manager ran)."""
    policy = run.report.policy
    if policy is None:
        return None
    duration = run.report.simulated_seconds
    if run.scenario is not None and run.scenario.traffic is not None:
        duration = max(duration, run.scenario.traffic.duration)
    return ssla_view(policy, duration)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file with a header; none when it is missing or unreadable."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _csv_series(path: Path) -> Series | None:
    """A metrics CSV (a `timestamp` column, then one column per metric); None if unreadable."""
    rows = _csv_rows(path)
    if not rows:
        return None
    names = [n for n in rows[0] if n and n != "timestamp"]
    t = [_number(r.get("timestamp")) for r in rows]
    return Series(
        t=[x if x is not None else float(i) for i, x in enumerate(t)],
        values={n: [_number(r.get(n)) for r in rows] for n in names},
    )


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def detail(run: LoadedRun) -> RunDetail:
    """Everything the page shows about one run."""
    report = run.report
    return RunDetail(
        summary=summary(run),
        scenario=scenario_of(run),
        workflow=report.workflow,
        agents=views.agents(report, views.pipeline_agents(report)),
        auctions=report.auctions,
        placements=views.placements(report),
        actions=report.actions,
        telemetry=report.telemetry,
        acceptance=report.acceptance,
        ledger=ledger(run),
        alerts=views.run_alerts(report),
        audit=audit(run),
        policy=report.policy,
        analytics=report.analytics,
        ssla=ssla(run),
        cti=cti(run),
        mtd=mtd(run),
        cnf_metrics=cnf_metrics(run),
        network=network(run),
        figures=figures(run),
        minds=minds.index(report),
    )
