"""Measured migrations: the recording of real moves on the emulated engine.

`benchmarks/bench_mtd_emulated.py --record` moves real CNFs (key/value services with real
state, `secmas.network.emulation.migration`) between adjacent PoPs of
`scenarios/adaptive-emulated.yaml` over a random design of the regressor's inputs (CPU
load, resident memory, disk writes, the link's bandwidth), every sampled CNF ("instance")
once with each of the four methods, and writes one CSV row per move with what the probe
measured. The shipped recording is `secmas/data/mtd/measured-migrations.csv`; its `#`
lines say how and when it was made.

Units are the migration model's (MB, MB/s, seconds of the scenario), so a row is
comparable with `MigrationModel.expected` on the same load and bandwidth: the emulated
state and links are both scaled by the scenario's scale. `net_mbps` is the share of the
link a transfer leaves to the CNF's own traffic (the emulated transfer takes 80 %).

`read_recording` validates every row and names bad ones by line number; `to_dataset`
groups the rows per instance into a `Dataset`, so the selector and regressor train on
measured moves as they do on the analytical model's draws (only `total_s`, `downtime_s`
and `approx_downtime_s`, the service-side freeze, are measured; the other phases are 0).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from secmas.mtd.dataset import Dataset, Instance, LoadClass, Record
from secmas.mtd.migration import METHODS, Load, Method, Phases

COLUMNS: tuple[str, ...] = (
    "instance",
    "method",
    "cpu",
    "memory_mb",
    "disk_mbps",
    "net_mbps",
    "bandwidth",
    "source",
    "destination",
    "state_bytes",
    "downtime_s",
    "total_s",
    "frozen_s",
)
SHIPPED = "measured-migrations.csv"
MEASURED_CLASS = LoadClass("measured", "measured", "measured", "measured")
"""Measured instances belong to no load class of the deliverable's 34."""


class RecordingError(ValueError):
    """A recording that cannot be used; the text names the file and line."""


@dataclass(frozen=True)
class MeasuredMigration:
    """One real move: the CNF's load, the link, the method and what was measured."""

    line: int
    instance: int
    method: Method
    load: Load
    bandwidth: float
    source: str
    destination: str
    state_bytes: int
    downtime_s: float
    total_s: float
    frozen_s: float

    def row(self) -> list[str]:
        """The CSV fields, in `COLUMNS` order."""
        load = self.load
        return [
            str(self.instance),
            self.method.value,
            *(f"{v:.6g}" for v in (load.cpu, load.memory_mb, load.disk_mbps, load.net_mbps)),
            f"{self.bandwidth:.6g}",
            self.source,
            self.destination,
            str(self.state_bytes),
            *(f"{v:.6f}" for v in (self.downtime_s, self.total_s, self.frozen_s)),
        ]


def header(lines: Sequence[str]) -> str:
    """The recording's `#` comment lines and its column row."""
    return "".join(f"# {line}\n" for line in lines) + ",".join(COLUMNS) + "\n"


def _number(text: str, column: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RecordingError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise RecordingError(f"{where}: {column} {text!r} must be a finite number ≥ 0")
    return value


def _parse(fields: dict[str, str], line: int, where: str) -> MeasuredMigration:
    try:
        method = Method(fields["method"])
    except ValueError:
        choices = ", ".join(m.value for m in METHODS)
        raise RecordingError(
            f"{where}: method {fields['method']!r} is not one of {choices}"
        ) from None
    num = {
        c: _number(fields[c], c, where)
        for c in COLUMNS
        if c not in ("method", "source", "destination")
    }
    for column in ("instance", "state_bytes"):
        if num[column] != int(num[column]):
            raise RecordingError(f"{where}: {column} {fields[column]!r} is not an integer")
    if num["bandwidth"] <= 0 or num["total_s"] <= 0:
        raise RecordingError(f"{where}: bandwidth and total_s must be > 0")
    if num["downtime_s"] > num["total_s"] + 1e-6:
        raise RecordingError(
            f"{where}: downtime_s {num['downtime_s']:g} exceeds total_s {num['total_s']:g}"
        )
    try:
        load = Load(num["cpu"], num["memory_mb"], num["disk_mbps"], num["net_mbps"])
    except ValueError as exc:
        raise RecordingError(f"{where}: {exc}") from None
    if not fields["source"] or fields["source"] == fields["destination"]:
        raise RecordingError(f"{where}: source and destination must be two PoPs")
    return MeasuredMigration(
        line=line,
        instance=int(num["instance"]),
        method=method,
        load=load,
        bandwidth=num["bandwidth"],
        source=fields["source"],
        destination=fields["destination"],
        state_bytes=int(num["state_bytes"]),
        downtime_s=num["downtime_s"],
        total_s=num["total_s"],
        frozen_s=num["frozen_s"],
    )


def parse_recording(text: str, name: str) -> tuple[MeasuredMigration, ...]:
    """Every row of a recording (`name` for messages); RecordingError names the first bad
    line. An instance must not repeat a method or change its load or link."""
    lines = text.splitlines()
    body = [(n, line) for n, line in enumerate(lines, 1) if not line.startswith("#")]
    if not body or body[0][1].strip() != ",".join(COLUMNS):
        raise RecordingError(f"{name}: expected the column row {','.join(COLUMNS)}")
    out: list[MeasuredMigration] = []
    seen: dict[int, MeasuredMigration] = {}
    methods: set[tuple[int, Method]] = set()
    for number, line in body[1:]:
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            values = next(csv.reader(io.StringIO(line)))
        except csv.Error as exc:
            raise RecordingError(f"{where}: {exc}") from None
        if len(values) != len(COLUMNS):
            raise RecordingError(f"{where}: {len(values)} fields, expected {len(COLUMNS)}")
        migration = _parse(dict(zip(COLUMNS, values, strict=True)), number, where)
        first = seen.setdefault(migration.instance, migration)
        if (first.load, first.bandwidth) != (migration.load, migration.bandwidth):
            raise RecordingError(
                f"{where}: instance {migration.instance} has another load or bandwidth than "
                f"on line {first.line}"
            )
        if (migration.instance, migration.method) in methods:
            raise RecordingError(
                f"{where}: instance {migration.instance} moved by {migration.method} twice"
            )
        methods.add((migration.instance, migration.method))
        out.append(migration)
    if not out:
        raise RecordingError(f"{name}: no migrations")
    return tuple(out)


def read_recording(path: Path | None = None) -> tuple[MeasuredMigration, ...]:
    """The recording at `path` (default: the shipped one)."""
    if path is None:
        source = resources.files("secmas") / "data" / "mtd" / SHIPPED
        return parse_recording(source.read_text(encoding="utf-8"), f"secmas/data/mtd/{SHIPPED}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}: cannot read: {exc}") from None
    return parse_recording(text, str(path))


def phases(migration: MeasuredMigration) -> Phases:
    """The measured figures as `Phases` (unmeasured phases 0)."""
    return Phases(
        method=migration.method,
        predump_s=0.0,
        predump_mb=0.0,
        predump_transfer_s=0.0,
        dump_s=0.0,
        dump_mb=0.0,
        volume_mb=0.0,
        dump_transfer_s=0.0,
        restore_s=0.0,
        lazy_s=0.0,
        fault_stall_s=0.0,
        approx_downtime_s=migration.frozen_s,
        downtime_s=migration.downtime_s,
        total_s=migration.total_s,
    )


def to_dataset(migrations: Iterable[MeasuredMigration], seed: int = 0) -> Dataset:
    """The instances moved by all four methods, in order of first appearance (the others
    are left out: the selector's label needs every method's measurement)."""
    groups: dict[int, dict[Method, MeasuredMigration]] = {}
    for m in migrations:
        groups.setdefault(m.instance, {})[m.method] = m
    instances: list[Instance] = []
    records: list[tuple[Record, ...]] = []
    for group in groups.values():
        if len(group) < len(METHODS):
            continue
        first = group[METHODS[0]]
        inst = Instance(len(instances), MEASURED_CLASS, first.load, first.bandwidth)
        instances.append(inst)
        records.append(tuple(Record(inst, phases(group[m])) for m in METHODS))
    return Dataset(tuple(instances), tuple(records), seed)
