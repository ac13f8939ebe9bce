"""Labelled metric series of a CNF, simulated on a scenario's network.

The monitoring service of the vCDN proof of concept (`002_…` Section IV) exports the
metrics of the video streamer as time series to train and test the analytics on; the
profiling data set of `004_…` Section 6.2 holds normal behaviour and five microservice
anomalies. Here the data plane plays both: `simulate` runs a scenario and returns one
CNF's metrics with the ground-truth condition of every step, `normal_series` the same
without attack or incidents, and `episode_series` lays random, non-overlapping episodes
of chosen conditions (attacks and incidents) over normal traffic.

`shipped_ecg` is the exception: a small real labelled series (an MIT-BIH ECG, labels
"normal" and "anomaly") shipped with the package, so that the choice `--model auto` makes
can be tested on data the project did not make.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from secmas.network.dataplane.cnf import ATTACK_CONDITIONS, METRICS, known_conditions
from secmas.network.dataplane.simulator import DataPlane
from secmas.scenario.model import Attack, Incident, Scenario

GAP_S = (20.0, 40.0)  # normal traffic between two episodes, seconds
ATTACK_SIZES: dict[str, dict[str, Any]] = {
    "http_flood": {"attackers": 4, "rate": 0.1},  # about 520 requests/s
    "slowloris": {"attackers": 3, "rate": 0.005},  # about 50 connections/s
    "syn_flood": {"attackers": 8, "rate": 0.5},  # Section 5.3 of 003_…
}
"""Attack sizes an episode uses when the scenario has no attack of that kind."""


@dataclass(frozen=True)
class LabelledSeries:
    """Metrics of one CNF, one row per step, with each step's condition.

    `values` is [T, F] with columns `features`; `labels` is [T] strings from
    `cnf.known_conditions()`; `step` is the seconds between rows.
    """

    features: tuple[str, ...]
    values: np.ndarray
    labels: np.ndarray
    step: float

    def __len__(self) -> int:
        return len(self.values)


def simulate(
    scenario: Scenario, seconds: float, seed: int, cnf: str | None = None
) -> LabelledSeries:
    """Run the scenario's data plane for `seconds` and take one CNF's series (the first
    CNF of the scenario by default)."""
    return _run(scenario, seconds, seed, cnf, ())


OPERATIONS = ("scale_out", "migrate", "guard", "scale_out", "migrate")
"""Routine reconfigurations of a normal run, in the order `normal_series` applies them."""


def normal_series(
    scenario: Scenario, seconds: float, seed: int, *, operations: bool = True
) -> LabelledSeries:
    """`simulate` with the scenario's attack and incidents removed: normal behaviour.

    With `operations`, the run also goes through the routine changes a closed loop (or an
    operator) makes: replicas added, the instance rescheduled, a proxy put in front
    (`OPERATIONS`, at random times on random PoPs). They are normal: a detector trained
    without them would flag the loop's own remedies as attacks ever after.
    """
    quiet = scenario.model_copy(update={"attack": None, "incidents": ()})
    plan = routine_operations(scenario, seconds, seed) if operations else ()
    return _run(quiet, seconds, seed, None, (), plan)


def routine_operations(
    scenario: Scenario, seconds: float, seed: int
) -> list[tuple[float, str, str]]:
    """`OPERATIONS` at random times within the run, each on a random PoP: (time, remedy, PoP)
    in the order `normal_series` applies them."""
    rng = np.random.default_rng([seed, 11])
    step = _step(scenario)
    pops = [pop.id for pop in scenario.pops]
    times = np.sort(rng.uniform(0.1, 0.9, len(OPERATIONS))) * seconds
    return [
        (_whole(t, step), remedy, str(rng.choice(pops)))
        for t, remedy in zip(times, OPERATIONS, strict=True)
    ]


def episode_series(
    scenario: Scenario,
    conditions: Sequence[str],
    seed: int,
    *,
    seconds: float = 600.0,
    episode: tuple[float, float] = (30.0, 60.0),
    cnf: str | None = None,
    operations: bool = False,
) -> LabelledSeries:
    """Normal traffic with random, non-overlapping episodes of `conditions` on one CNF.

    Episodes last `episode` seconds (uniformly drawn) with 20–40 s of normal traffic
    before each; conditions take turns in a shuffled order, so each gets its share.
    An attack episode becomes an attack of that kind (the scenario's own size and
    origin if it has one of that kind, else `ATTACK_SIZES`); an incident episode
    becomes an incident on the CNF; a "normal" episode adds nothing. The scenario's own
    attack and incidents are left out. With `operations`, the routine reconfigurations of
    `normal_series` happen too, so anomalies are seen on one replica and on several.
    """
    known = known_conditions()
    unknown = [c for c in conditions if c not in known]
    if unknown or not conditions:
        raise ValueError(
            f"unknown conditions {unknown}; known: {', '.join(known)}"
            if unknown
            else "no conditions to draw episodes of"
        )
    low, high = episode
    if not 0 < low <= high:
        raise ValueError(f"episode length range {episode} is not 0 < low <= high")
    target = _target(scenario, cnf)
    step = _step(scenario)
    rng = np.random.default_rng([seed, 7])
    attacks: list[Attack] = []
    incidents: list[Incident] = []
    order: list[str] = []
    t = _whole(rng.uniform(*GAP_S), step)
    while True:
        length = max(step, _whole(rng.uniform(low, high), step))
        if t + length > seconds:
            break
        if not order:
            order = [str(c) for c in rng.permutation(list(conditions))]
        condition = order.pop(0)
        if condition in ATTACK_CONDITIONS:
            attacks.append(_attack(scenario, condition, t, t + length))
        elif condition != "normal":
            incidents.append(
                Incident.model_validate(
                    {"kind": condition, "cnf": target, "start": t, "stop": t + length}
                )
            )
        t += length + _whole(rng.uniform(*GAP_S), step)
    variant = scenario.model_copy(update={"attack": None, "incidents": tuple(incidents)})
    plan = routine_operations(scenario, seconds, seed) if operations else ()
    return _run(variant, seconds, seed, target, attacks, plan)


def _run(
    scenario: Scenario,
    seconds: float,
    seed: int,
    cnf: str | None,
    attacks: Sequence[Attack],
    operations: Sequence[tuple[float, str, str]] = (),
) -> LabelledSeries:
    """Run the plane for `seconds`, applying each (time, remedy, PoP) of `operations`."""
    target = _target(scenario, cnf)
    plane = DataPlane(scenario, seed, extra_attacks=attacks)
    for at, remedy, pop in operations:
        plane.run_until(at)
        plane.remedy(target, remedy, pop)
    plane.run_until(seconds)
    return LabelledSeries(
        features=METRICS,
        values=plane.cnf_series(target),
        labels=np.array(plane.cnf_truth(target), dtype=str),
        step=plane.step_seconds,
    )


def _target(scenario: Scenario, cnf: str | None) -> str:
    """The CNF to take: `cnf`, or the scenario's first."""
    ids = [c.id for c in scenario.cnfs]
    if not ids:
        raise ValueError(f"scenario {scenario.id!r} has no CNF to take metrics of")
    if cnf is None:
        return ids[0]
    if cnf not in ids:
        raise KeyError(f"unknown CNF {cnf!r}; scenario {scenario.id!r} has {', '.join(ids)}")
    return cnf


def _step(scenario: Scenario) -> float:
    if scenario.traffic is None:
        raise ValueError(f"scenario {scenario.id!r} has no traffic section to simulate")
    return scenario.traffic.step


def _whole(seconds: float, step: float) -> float:
    """`seconds` rounded to a whole number of steps."""
    return round(seconds / step) * step


def _attack(scenario: Scenario, kind: str, start: float, stop: float) -> Attack:
    """An attack of `kind` in [start, stop), sized like the scenario's own if it has one
    of that kind, and coming from where the scenario's attackers or clients are."""
    assert scenario.traffic is not None
    own = scenario.attack
    if own is not None and own.kind == kind:
        return own.model_copy(update={"start": start, "stop": stop})
    attach = own.attach if own is not None else scenario.traffic.background.attach
    ports = scenario.traffic.ports if kind == "syn_flood" else scenario.traffic.ports[:1]
    return Attack.model_validate(
        {
            "kind": kind,
            **ATTACK_SIZES[kind],
            "start": start,
            "stop": stop,
            "ports": ports,
            "attach": attach,
        }
    )


SHIPPED_ECG = "mitdb-ecg.csv"
ECG_NORMAL_STEPS = 2500
"""The shipped ECG's first steps, before its labelled anomaly (6 936–7 287): normal."""


def shipped_ecg() -> tuple[LabelledSeries, LabelledSeries]:
    """A real labelled series shipped with the package (secmas/data/series/README.md: an
    MIT-BIH ECG, ODC-By): its normal first `ECG_NORMAL_STEPS` steps and the labelled rest,
    one step per sample. Small enough for a test to fit and score detectors in seconds."""
    import csv
    from importlib import resources

    source = resources.files("secmas") / "data" / "series" / SHIPPED_ECG
    with source.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    values = np.array([[float(row["data"])] for row in rows])
    labels = np.array(["anomaly" if row["label"] == "1" else "normal" for row in rows], object)
    parts = slice(None, ECG_NORMAL_STEPS), slice(ECG_NORMAL_STEPS, None)
    normal, rest = (LabelledSeries(("ecg",), values[p], labels[p], 1.0) for p in parts)
    return normal, rest
