"""The live-migration dataset over the 34 feasible load classes (004_… Section 2.1).

The deliverable's dataset holds over 6 000 live migrations of a containerised application under
three load levels (low, medium, high) of CPU, RAM and storage and four of networking (zero as
well), 3·3·3·4 = 108 classes, of which 34 can be produced in practice: "high RAM and storage
read/write operations require medium to high CPU load". It does not list the 34; our
reconstruction, which gives exactly 34 and keeps the quoted example:

* the load generator's stress costs CPU: RAM and storage cost 0 / 1 / 2 units at low / medium /
  high, networking 0 / 0 / 1 / 2 at zero / low / medium / high (light traffic is nearly free);
* a container at low CPU load affords no stress (0 units): only RAM low, storage low and
  networking zero or low, 2 classes;
* at medium or high CPU load the container affords 2 units: one high load, or two medium ones,
  or one medium with light traffic; 16 classes each.

So high RAM or high storage I/O needs medium or high CPU (the deliverable's example), and a
container never stresses three resources at once. `load_classes()` lists them (`code`: CPU,
RAM, storage letters L/M/H and networking 0/L/M/H, e.g. "HML0").

Each class is sampled as continuous loads, uniformly within its level's range (`RANGES`), over a
path of log-uniform bandwidth in `BANDWIDTH` (100 Mbit/s to 1 Gbit/s, edge paths); every sampled
container ("instance") is migrated once with each of the four methods, keeping the methods
uniformly distributed per class as the deliverable does. 34 classes × 45 repeats × 4 methods =
6 120 migrations, "over 6 000". Seeds make a set reproducible; the selector and regressor are
trained on one seed and scored on others (held-out containers and noise).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from secmas.mtd.migration import DEFAULT_MODEL, METHODS, Load, Method, MigrationModel, Phases

LEVELS: tuple[str, ...] = ("low", "medium", "high")
NET_LEVELS: tuple[str, ...] = ("zero", "low", "medium", "high")
STRESS_COST = {"low": 0, "medium": 1, "high": 2}
NET_STRESS_COST = {"zero": 0, "low": 0, "medium": 1, "high": 2}
CPU_BUDGET = {"low": 0, "medium": 2, "high": 2}

RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "cpu": {"low": (0.05, 0.25), "medium": (0.35, 0.60), "high": (0.70, 0.95)},
    "ram": {"low": (50.0, 150.0), "medium": (300.0, 600.0), "high": (1000.0, 2000.0)},  # MB
    "disk": {"low": (0.0, 0.5), "medium": (2.0, 6.0), "high": (10.0, 25.0)},  # MB/s written
    "net": {
        "zero": (0.0, 0.0),
        "low": (0.5, 3.0),
        "medium": (8.0, 20.0),
        "high": (30.0, 60.0),
    },  # MB/s
}
BANDWIDTH: tuple[float, float] = (12.5, 125.0)  # MB/s, log-uniform
REPEATS = 45

FEATURES: tuple[str, ...] = (
    "cpu",
    "memory_mb",
    "disk_mbps",
    "net_mbps",
    "bandwidth",
    "memory_over_bandwidth_s",
    "net_share",
)
"""What the selector and regressor see: the measured loads, the path bandwidth, and two ratios
(resident memory / bandwidth, traffic / bandwidth) that trees would otherwise have to learn."""


@dataclass(frozen=True)
class LoadClass:
    """One of the deliverable's load categories: a level per resource."""

    cpu: str
    ram: str
    disk: str
    net: str

    @property
    def code(self) -> str:
        net = "0" if self.net == "zero" else self.net[0].upper()
        return f"{self.cpu[0]}{self.ram[0]}{self.disk[0]}".upper() + net

    @property
    def stress(self) -> int:
        return STRESS_COST[self.ram] + STRESS_COST[self.disk] + NET_STRESS_COST[self.net]

    @property
    def feasible(self) -> bool:
        return self.stress <= CPU_BUDGET[self.cpu]


def all_classes() -> tuple[LoadClass, ...]:
    """All 108 combinations of levels."""
    return tuple(
        LoadClass(*levels) for levels in itertools.product(LEVELS, LEVELS, LEVELS, NET_LEVELS)
    )


def load_classes() -> tuple[LoadClass, ...]:
    """The 34 feasible classes."""
    return tuple(c for c in all_classes() if c.feasible)


def sample_load(cls: LoadClass, rng: np.random.Generator) -> Load:
    def draw(resource: str, level: str) -> float:
        low, high = RANGES[resource][level]
        return float(rng.uniform(low, high))

    return Load(
        cpu=draw("cpu", cls.cpu),
        memory_mb=draw("ram", cls.ram),
        disk_mbps=draw("disk", cls.disk),
        net_mbps=draw("net", cls.net),
    )


def sample_bandwidth(rng: np.random.Generator) -> float:
    low, high = BANDWIDTH
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def features(load: Load, bandwidth: float) -> list[float]:
    """The `FEATURES` of one container on one path."""
    return [
        load.cpu,
        load.memory_mb,
        load.disk_mbps,
        load.net_mbps,
        bandwidth,
        load.memory_mb / bandwidth,
        load.net_mbps / bandwidth,
    ]


@dataclass(frozen=True)
class Instance:
    """One sampled container to migrate: its class, loads and path bandwidth."""

    index: int
    load_class: LoadClass
    load: Load
    bandwidth: float


@dataclass(frozen=True)
class Record:
    """One migration of the dataset."""

    instance: Instance
    phases: Phases

    @property
    def method(self) -> Method:
        return self.phases.method


@dataclass(frozen=True)
class Dataset:
    """Migrations grouped by instance: `records[i]` are the four methods of `instances[i]`."""

    instances: tuple[Instance, ...]
    records: tuple[tuple[Record, ...], ...]
    seed: int

    def __len__(self) -> int:
        return sum(len(r) for r in self.records)

    def migrations(self) -> Iterator[Record]:
        for group in self.records:
            yield from group

    def matrix(self) -> np.ndarray:
        """One `features` row per instance."""
        return np.array([features(i.load, i.bandwidth) for i in self.instances])

    def outcomes(self, field: str) -> np.ndarray:
        """[instance, method] array of a `Phases` field (methods in `METHODS` order)."""
        return np.array(
            [
                [getattr(by_method(group)[m].phases, field) for m in METHODS]
                for group in self.records
            ]
        )


def by_method(group: Sequence[Record]) -> dict[Method, Record]:
    return {r.method: r for r in group}


def generate(
    seed: int,
    repeats: int = REPEATS,
    model: MigrationModel = DEFAULT_MODEL,
    classes: Sequence[LoadClass] | None = None,
) -> Dataset:
    """`repeats` containers per feasible class, each migrated with every method (noisy)."""
    rng = np.random.default_rng(seed)
    classes = load_classes() if classes is None else tuple(classes)
    instances: list[Instance] = []
    records: list[tuple[Record, ...]] = []
    for _ in range(repeats):
        for cls in classes:
            inst = Instance(len(instances), cls, sample_load(cls, rng), sample_bandwidth(rng))
            instances.append(inst)
            records.append(
                tuple(
                    Record(inst, model.simulate(m, inst.load, inst.bandwidth, rng)) for m in METHODS
                )
            )
    return Dataset(tuple(instances), tuple(records), seed)
