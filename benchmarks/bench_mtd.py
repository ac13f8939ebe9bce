"""Moving target defence (004_… Section 2): live-migration optimizer and MTD strategy.

(1) Dataset: `secmas.mtd.dataset.generate` over the 34 feasible load classes, every container
migrated with the four methods by the analytical model with seeded noise; training seed 0
(45 containers per class: 6 120 migrations, "over 6 000" as in the deliverable), held-out
test seeds 1–3. The winner per load level (oracle: the method of lowest downtime + 0.1·total
time for each container) and the model's qualitative findings.

(2) Method selector (Section 2.1, ML classifier): random forest (default) and gradient
boosting, trained on seed 0, against always-pre-copy, the noise-free model's own choice, and
the oracle, on the held-out containers: accuracy, mean downtime, total time, score, and their
regret (chosen minus oracle), training time and per-container decision time.

(3) Migration-time regressor (Section 2.1, ML regressor): histogram gradient boosting
(default) and a random forest on log-seconds; MAE, R², mean relative error of the total time
and the downtime on the held-out migrations.

(4) Synchronised parallel migration: services of `service_size` CNFs of random load classes
(held-out seeds), each CNF migrated with the selector's method; starts from the regressor's
predicted durations (start_i = max d − d_i); "actual" durations are fresh noisy draws of the
model. Arrival spread (max − min) aligned, with all CNFs starting together, and aligned on the
noise-free model's durations (the floor set by the noise alone).

(5) MTD strategy: one CNF (an AMF-like container with three CVEs), 99.95 % availability, one
day in 15-minute steps; the MOMDP solved for every weight vector of a simplex grid, beside
fixed-interval baselines (every k steps with one method); the Pareto front over (mean attack
success probability, dollars, seconds of downtime), non-dominated policies marked. Then
`plan_mtd` timed on ten CNFs over 30 days in hourly steps.

(6) MTD in a run: the adaptive-defence scenario on the simulator, CTI shared over TAXII, every
move charged the migration model on the path to the PoP its auction chose, beside what the
plan assumed.

    python benchmarks/bench_mtd.py [--quick]

Writes benchmarks/results/mtd.json, mtd.md and mtd.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from machine import describe
from secmas.mtd import (
    SLA,
    CNFProfile,
    Horizon,
    Load,
    Method,
    MethodSelector,
    MigrationRegressor,
    Objective,
    Vulnerability,
    Weights,
    plan,
)
from secmas.mtd.cost import migration_cost
from secmas.mtd.dataset import (
    Dataset,
    features,
    generate,
    load_classes,
    sample_bandwidth,
    sample_load,
)
from secmas.mtd.migration import DEFAULT_MODEL, METHODS
from secmas.mtd.pareto import PolicyPoint, points, simplex, weight_label
from secmas.mtd.planner import AnalyticPredictor
from secmas.mtd.regressor import Estimate, method_row
from secmas.mtd.schedule import report
from secmas.mtd.selector import SelectionScore, evaluate, model_choice, oracle_labels
from secmas.mtd.strategy import MoveOption, StrategyProblem

RESULTS = Path(__file__).parent / "results"
PACKAGES = ("scikit-learn", "numpy", "scipy", "cvss")
TRAIN_SEED = 0
TEST_SEEDS = (1, 2, 3)
SCHEDULE_SEED = 40
DAY = 86400.0
OBJECTIVE = Objective()
DECISIONS = 50  # single-container decisions timed per classifier


@dataclass(frozen=True)
class Sizes:
    train_repeats: int = 45  # × 34 classes × 4 methods = 6 120 migrations
    test_repeats: int = 15  # per test seed
    services: int = 300
    service_size: int = 5
    weight_step: float = 0.05
    plan_cnfs: int = 10
    plan_days: int = 30


FULL = Sizes()
QUICK = replace(FULL, train_repeats=8, test_repeats=3, services=40, weight_step=0.25, plan_days=3)


def clean(value: Any) -> Any:
    """A strict-JSON copy: NaN and infinities as None, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    out = fn()
    return time.perf_counter() - began, out


def merge(parts: Sequence[Dataset]) -> Dataset:
    return Dataset(
        tuple(i for p in parts for i in p.instances),
        tuple(r for p in parts for r in p.records),
        seed=-1,
    )


# -- (1) dataset and findings ------------------------------------------------------------
def findings(data: Dataset) -> dict[str, Any]:
    """Which method wins where, and the qualitative properties of the model."""
    best = oracle_labels(data, OBJECTIVE)
    down, total = data.outcomes("downtime_s"), data.outcomes("total_s")
    stall = data.outcomes("fault_stall_s")
    wins: dict[str, dict[str, dict[str, float]]] = {}
    for resource in ("cpu", "ram", "disk", "net"):
        table: dict[str, Counter] = defaultdict(Counter)
        for inst, b in zip(data.instances, best, strict=True):
            table[getattr(inst.load_class, resource)][METHODS[b].value] += 1
        wins[resource] = {
            level: {m.value: c[m.value] / sum(c.values()) for m in METHODS}
            for level, c in table.items()
        }
    post = METHODS.index(Method.POSTCOPY)
    low_ram = [i for i, inst in enumerate(data.instances) if inst.load_class.ram == "low"]
    stall_by_net = {
        level: float(
            np.mean([stall[i, post] for i in low_ram if data.instances[i].load_class.net == level])
        )
        for level in ("zero", "low", "medium", "high")
    }
    pre = METHODS.index(Method.PRECOPY)
    cold = METHODS.index(Method.COLD)
    by_class = Counter(
        (inst.load_class.code, METHODS[b].value)
        for inst, b in zip(data.instances, best, strict=True)
    )
    classes = {
        c.code: max((m.value for m in METHODS), key=lambda m, code=c.code: by_class[(code, m)])
        for c in load_classes()
    }
    return {
        "containers": len(data.instances),
        "migrations": len(data),
        "oracle_wins": {m.value: int(np.sum(best == i)) for i, m in enumerate(METHODS)},
        "wins_by_level": wins,
        "mean_downtime_s": {m.value: float(down[:, i].mean()) for i, m in enumerate(METHODS)},
        "mean_total_s": {m.value: float(total[:, i].mean()) for i, m in enumerate(METHODS)},
        "cold_longest_downtime_share": float(np.mean(down.argmax(axis=1) == cold)),
        "cold_shortest_total_share": float(np.mean(total.argmin(axis=1) == cold)),
        "precopy_downtime_over_cold_by_ram": {
            level: float(
                np.median(
                    [
                        down[i, pre] / down[i, cold]
                        for i, inst in enumerate(data.instances)
                        if inst.load_class.ram == level
                    ]
                )
            )
            for level in ("low", "medium", "high")
        },
        "postcopy_fault_stall_s_by_net_low_ram": stall_by_net,
        "most_frequent_winner_by_class": classes,
    }


# -- (2) selector --------------------------------------------------------------------------
def selection(train: Dataset, test: Dataset) -> tuple[dict[str, Any], MethodSelector]:
    rows: list[SelectionScore] = []
    timing: dict[str, dict[str, float]] = {}
    x = test.matrix()
    chosen = None
    for kind in ("random_forest", "gradient_boosting"):
        fit_s, selector = timed(lambda kind=kind: MethodSelector(kind, OBJECTIVE).fit(train))
        choices = selector.predict_indices(x)
        per_s, _ = timed(lambda s=selector: [s.predict_indices(x[:1]) for _ in range(DECISIONS)])
        rows.append(evaluate(kind, choices, test, OBJECTIVE))
        timing[kind] = {"train_s": fit_s, "decide_ms": 1000 * per_s / DECISIONS}
        if kind == "random_forest":
            chosen = selector
    n = len(test.instances)
    rows.append(evaluate("always pre-copy", [METHODS.index(Method.PRECOPY)] * n, test, OBJECTIVE))
    model = [METHODS.index(model_choice(i.load, i.bandwidth, OBJECTIVE)) for i in test.instances]
    rows.append(evaluate("noise-free model's choice", model, test, OBJECTIVE))
    rows.append(evaluate("oracle", oracle_labels(test, OBJECTIVE), test, OBJECTIVE))
    assert chosen is not None
    return {"rows": [asdict(r) for r in rows], "timing": timing}, chosen


# -- (3) regressor ---------------------------------------------------------------------
def regression(train: Dataset, test: Dataset) -> tuple[dict[str, Any], MigrationRegressor]:
    out: dict[str, Any] = {}
    default = None
    for kind in ("gradient_boosting", "random_forest"):
        fit_s, reg = timed(lambda kind=kind: MigrationRegressor(kind).fit(train))
        scores = reg.score(test)
        out[kind] = {"train_s": fit_s, **{t: asdict(s) for t, s in scores.items()}}
        if kind == "gradient_boosting":
            default = reg
    assert default is not None
    return out, default


# -- (4) synchronised migration ------------------------------------------------------------
def scheduling(
    selector: MethodSelector, regressor: MigrationRegressor, sizes: Sizes
) -> dict[str, Any]:
    rng = np.random.default_rng(SCHEDULE_SEED)
    classes = load_classes()
    services = []
    for _ in range(sizes.services):
        members = {}
        for k in range(sizes.service_size):
            cls = classes[int(rng.integers(len(classes)))]
            members[f"cnf{k}"] = (sample_load(cls, rng), sample_bandwidth(rng))
        services.append(members)
    # one batch through each model, as a planner would for a whole network service
    flat = [(load, bw) for members in services for load, bw in members.values()]
    chosen = selector.predict_indices(np.array([features(load, bw) for load, bw in flat]))
    methods = [METHODS[int(i)] for i in chosen]
    rows_ = np.array([method_row(load, bw, m) for (load, bw), m in zip(flat, methods, strict=True)])
    durations = regressor.predict_rows(rows_)["total_s"]
    aligned, simultaneous, floor, errors, makespan = [], [], [], [], []
    k = 0
    for members in services:
        predicted, actual, expected = {}, {}, {}
        for cnf, (load, bw) in members.items():
            m = methods[k]
            predicted[cnf] = float(durations[k])
            actual[cnf] = DEFAULT_MODEL.simulate(m, load, bw, rng).total_s
            expected[cnf] = DEFAULT_MODEL.expected(m, load, bw).total_s
            k += 1
        r = report(predicted, actual)
        aligned.append(r.aligned_spread_s)
        simultaneous.append(r.simultaneous_spread_s)
        errors.append(r.max_abs_error_s)
        makespan.append(r.makespan_s)
        floor.append(report(expected, actual).aligned_spread_s)

    def stats(xs: list[float]) -> dict[str, float]:
        return {
            "median": statistics.median(xs),
            "mean": statistics.fmean(xs),
            "p95": float(np.percentile(xs, 95)),
            "max": max(xs),
        }

    return {
        "services": sizes.services,
        "service_size": sizes.service_size,
        "predicted_spread_s": 0.0,
        "aligned_spread_s": stats(aligned),
        "simultaneous_spread_s": stats(simultaneous),
        "aligned_on_noise_free_durations_spread_s": stats(floor),
        "max_abs_prediction_error_s": stats(errors),
        "makespan_s": stats(makespan),
        "samples": {"aligned": aligned, "simultaneous": simultaneous},
    }


# -- (5) strategy ----------------------------------------------------------------------------
AMF = CNFProfile(
    id="amf",
    load=Load(cpu=0.5, memory_mb=450.0, disk_mbps=3.0, net_mbps=10.0),
    bandwidth=60.0,
    cpu=4,
    ram_gb=8,
    storage_gb=40,
    vulnerabilities=(
        Vulnerability(9.8, 3.887, "CVE-A (AV:N/AC:L/PR:N/UI:N, C/I/A:H)"),
        Vulnerability(7.5, 2.22, "CVE-B (AV:N/AC:H/PR:N/UI:N, C:H)"),
        Vulnerability(5.5, 1.8, "CVE-C (AV:N/AC:L/PR:L/UI:R, I:L/A:L)"),
    ),
)
SLA_DAY = SLA(availability=0.9995, window_s=DAY)
STEP_S = 900.0
INTERVALS = (2, 4, 8, 16, 32)


def strategy(sizes: Sizes) -> tuple[dict[str, Any], list[PolicyPoint]]:
    predictor = AnalyticPredictor()
    options = []
    for m in METHODS:
        est: Estimate = predictor.predict(m, AMF.load, AMF.bandwidth)
        cost = migration_cost(AMF.cpu, AMF.ram_gb, AMF.storage_gb, est.total_s)
        options.append(MoveOption(m, est.total_s, est.downtime_s, cost))
    budget = (1 - SLA_DAY.availability) * DAY
    problem = StrategyProblem.build(
        AMF.vulnerabilities, options, budget_s=budget, step_s=STEP_S, steps=round(DAY / STEP_S)
    )
    grid = simplex(sizes.weight_step)
    solve_s, optima = timed(lambda: [problem.solve(w) for w in grid])
    baselines = [problem.fixed_interval(k, i) for k in INTERVALS for i in range(len(options))]
    labels = [weight_label(w) for w in grid] + [
        f"every {k} steps, {o.method.value}" for k in INTERVALS for o in options
    ]
    placed = points(optima + baselines, labels)
    mdp_points, base_points = placed[: len(optima)], placed[len(optima) :]
    distinct: dict[tuple[float, float, float], PolicyPoint] = {}
    for p in mdp_points:
        key = (round(p.mean_asp, 9), round(p.cost, 12), round(p.downtime_s, 9))
        distinct.setdefault(key, p)
    return {
        "cnf": {
            "id": AMF.id,
            "load": asdict(AMF.load),
            "bandwidth_mbps": AMF.bandwidth,
            "resources": {"cpu": AMF.cpu, "ram_gb": AMF.ram_gb, "storage_gb": AMF.storage_gb},
            "vulnerabilities": [asdict(v) for v in AMF.vulnerabilities],
        },
        "sla": asdict(SLA_DAY),
        "step_s": STEP_S,
        "steps": problem.steps,
        "budget_s": budget,
        "options": [
            {**asdict(o), "method": o.method.value, "units": u, "quota": problem.quota(i)}
            for i, (o, u) in enumerate(zip(options, problem.units, strict=True))
        ],
        "states": problem.mdp.states,
        "weights": len(grid),
        "solve_all_s": solve_s,
        "distinct_mdp_policies": len(distinct),
        "mdp_policies_non_dominated": sum(p.pareto for p in mdp_points),
        "baselines": len(base_points),
        "baselines_dominated": sum(not p.pareto for p in base_points),
        "front": [asdict(p) for p in sorted(distinct.values(), key=lambda p: p.mean_asp)],
        "baseline_points": [asdict(p) for p in base_points],
    }, placed


def planning(sizes: Sizes) -> dict[str, Any]:
    rng = np.random.default_rng(50)
    classes = load_classes()
    cnfs = []
    for k in range(sizes.plan_cnfs):
        cls = classes[int(rng.integers(len(classes)))]
        vulns = tuple(
            Vulnerability(float(rng.uniform(4, 10)), float(rng.uniform(0.5, 3.887)))
            for _ in range(int(rng.integers(0, 4)))
        )
        cnfs.append(
            CNFProfile(
                f"cnf{k}",
                sample_load(cls, rng),
                sample_bandwidth(rng),
                cpu=float(rng.choice([2, 4, 8])),
                ram_gb=float(rng.choice([4, 8, 16])),
                storage_gb=40.0,
                vulnerabilities=vulns,
                since_last_move_s=float(rng.uniform(0, DAY)),
                service="core" if k < 3 else None,
            )
        )
    window = sizes.plan_days * DAY
    plan_s, result = timed(
        lambda: plan(cnfs, SLA(0.9995, window), Horizon(window, 3600.0), Weights(0.6, 0.2, 0.2))
    )
    return {
        "cnfs": len(cnfs),
        "units": len(result.units),
        "horizon_days": sizes.plan_days,
        "step_s": 3600.0,
        "plan_s": plan_s,
        "migrations": len(result.steps),
        "per_unit": [
            {
                "unit": u.name,
                "members": list(u.members),
                "quotas": u.quotas,
                "moves": len(u.strategy.moves()),
                "mean_asp": u.strategy.mean_asp,
                "cost": u.strategy.cost,
                "downtime_s": u.strategy.downtime_s,
                "budget_s": u.budget_s,
            }
            for u in result.units
        ],
    }


# -- report --------------------------------------------------------------------------------
def fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def tables(result: dict[str, Any]) -> list[str]:
    f, sel, reg = result["findings"], result["selector"], result["regressor"]
    sch, st, pl = result["schedule"], result["strategy"], result["planner"]
    out = [
        "### 1. Dataset and what the model reproduces",
        "",
        f"Training seed {TRAIN_SEED}: {result['train']['migrations']} migrations "
        f"({result['train']['containers']} containers × 4 methods, 34 classes); held-out seeds "
        f"{', '.join(map(str, TEST_SEEDS))}: {f['migrations']} migrations "
        f"({f['containers']} containers). Oracle = lowest downtime + 0.1 · total time.",
        "",
        "| method | oracle wins | mean downtime (s) | mean total (s) |",
        "|---|---|---|---|",
    ]
    for m in METHODS:
        out.append(
            f"| {m.value} | {f['oracle_wins'][m.value]} | {fmt(f['mean_downtime_s'][m.value], 2)}"
            f" | {fmt(f['mean_total_s'][m.value], 2)} |"
        )
    out += ["", "Share of containers each method wins, per load level:", ""]
    out += ["| resource | level | " + " | ".join(m.value for m in METHODS) + " |"]
    out += ["|---|---|" + "---|" * len(METHODS)]
    order = {"cpu": LEVELS3, "ram": LEVELS3, "disk": LEVELS3, "net": ("zero", *LEVELS3)}
    for resource, levels in order.items():
        for level in levels:
            shares = f["wins_by_level"][resource][level]
            out.append(
                f"| {resource} | {level} | "
                + " | ".join(f"{shares[m.value]:.2f}" for m in METHODS)
                + " |"
            )
    ratio = f["precopy_downtime_over_cold_by_ram"]
    stall = f["postcopy_fault_stall_s_by_net_low_ram"]
    out += [
        "",
        f"- cold has the longest downtime in {f['cold_longest_downtime_share']:.1%} of the "
        f"containers and the shortest total time in {f['cold_shortest_total_share']:.1%};",
        "- pre-copy's downtime over cold's (median) grows with memory load: "
        + ", ".join(f"RAM {k} {v:.2f}" for k, v in ratio.items())
        + ";",
        "- post-copy's page-fault stall grows with network load (low-RAM containers, mean): "
        + ", ".join(f"net {k} {v:.2f} s" for k, v in stall.items())
        + ".",
        "",
        "### 2. Method selector (held-out containers)",
        "",
        "| selector | accuracy | mean downtime (s) | mean total (s) | mean score | "
        "regret downtime (s) | regret total (s) | regret score | chosen |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sel["rows"]:
        chosen = ", ".join(f"{k} {v}" for k, v in r["chosen"].items() if v)
        out.append(
            f"| {r['name']} | {fmt(r['accuracy'])} | {fmt(r['mean_downtime_s'], 2)} | "
            f"{fmt(r['mean_total_s'], 2)} | {fmt(r['mean_score'], 2)} | "
            f"{fmt(r['regret_downtime_s'], 3)} | {fmt(r['regret_total_s'], 3)} | "
            f"{fmt(r['regret_score'], 3)} | {chosen} |"
        )
    out += ["", "| classifier | training (s) | one decision (ms) |", "|---|---|---|"]
    for kind, t in sel["timing"].items():
        out.append(f"| {kind} | {fmt(t['train_s'], 2)} | {fmt(t['decide_ms'], 2)} |")
    out += [
        "",
        "### 3. Migration-time regressor (held-out migrations)",
        "",
        "| regressor | target | MAE (s) | R² | mean relative error | training (s) |",
        "|---|---|---|---|---|---|",
    ]
    for kind, r in reg.items():
        for target in ("total_s", "downtime_s"):
            out.append(
                f"| {kind} | {target} | {fmt(r[target]['mae_s'], 2)} | {fmt(r[target]['r2'])} | "
                f"{r[target]['mape']:.1%} | {fmt(r['train_s'], 2)} |"
            )
    out += [
        "",
        "### 4. Synchronised parallel migration",
        "",
        f"{sch['services']} services of {sch['service_size']} CNFs (random classes), methods by "
        "the selector, durations predicted by the regressor; actual = fresh noisy draws. "
        "Predicted arrival spread: 0 s by construction.",
        "",
        "| arrival spread (s) | median | mean | p95 | max |",
        "|---|---|---|---|---|",
    ]
    for key, name in (
        ("aligned_spread_s", "aligned starts (regressor)"),
        ("aligned_on_noise_free_durations_spread_s", "aligned starts (noise-free model)"),
        ("simultaneous_spread_s", "all start at once"),
        ("max_abs_prediction_error_s", "max abs prediction error per service"),
        ("makespan_s", "makespan (aligned)"),
    ):
        s = sch[key]
        out.append(
            f"| {name} | {fmt(s['median'], 2)} | {fmt(s['mean'], 2)} | {fmt(s['p95'], 2)} | "
            f"{fmt(s['max'], 2)} |"
        )
    out += [
        "",
        "### 5. MTD strategy and Pareto front",
        "",
        f"CNF `{st['cnf']['id']}` ({len(st['cnf']['vulnerabilities'])} CVEs), availability "
        f"{st['sla']['availability']:.2%} → {fmt(st['budget_s'], 1)} s of downtime a day; "
        f"{st['steps']} steps of {st['step_s']:.0f} s; {st['states']} states. "
        f"{st['weights']} weight vectors solved in {fmt(st['solve_all_s'], 2)} s → "
        f"{st['distinct_mdp_policies']} distinct policies, {st['mdp_policies_non_dominated']} of "
        f"{st['weights']} non-dominated; {st['baselines_dominated']} of {st['baselines']} "
        "fixed-interval baselines dominated.",
        "",
        "| method | total (s) | downtime (s) | cost ($) | budget units | quota |",
        "|---|---|---|---|---|---|",
    ]
    for o in st["options"]:
        out.append(
            f"| {o['method']} | {fmt(o['total_s'], 2)} | {fmt(o['downtime_s'], 2)} | "
            f"{o['cost']:.6f} | {o['units']} | {o['quota']} |"
        )
    out += [
        "",
        "| policy (weights security, cost, QoS) | mean ASP | cost ($) | downtime (s) | moves "
        "| methods | Pareto |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in st["front"]:
        methods = ", ".join(f"{k} {v}" for k, v in p["methods"].items())
        out.append(
            f"| {p['label']} | {fmt(p['mean_asp'], 4)} | {p['cost']:.5f} | "
            f"{fmt(p['downtime_s'], 1)} | {p['migrations']} | {methods} | "
            f"{'yes' if p['pareto'] else 'no'} |"
        )
    out += ["", "Fixed-interval baselines:", ""]
    out += ["| baseline | mean ASP | cost ($) | downtime (s) | moves | Pareto |"]
    out += ["|---|---|---|---|---|---|"]
    for p in st["baseline_points"]:
        out.append(
            f"| {p['label']} | {fmt(p['mean_asp'], 4)} | {p['cost']:.5f} | "
            f"{fmt(p['downtime_s'], 1)} | {p['migrations']} | {'yes' if p['pareto'] else 'no'} |"
        )
    out += [
        "",
        f"`plan` of {pl['cnfs']} CNFs ({pl['units']} units, one service of 3) over "
        f"{pl['horizon_days']} days in hourly steps: {fmt(pl['plan_s'], 2)} s, "
        f"{pl['migrations']} migrations.",
    ]
    return out + run_table(result["run"])


def in_run() -> dict[str, Any]:
    """(6) The adaptive-defence scenario on the simulator (security off): CTI shared over
    a medallion of the run's, the MTD loop's moves auctioned; per move what the plan
    assumed (widest path to a PoP that may host the CNF) and what it was charged (the model
    on the path to the PoP the auction chose), and the re-plans."""
    import tempfile

    from secmas.api import run

    folder = Path(__file__).resolve().parents[1] / "scenarios"
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = run(folder / "adaptive-defence.yaml", out=Path(out) / "run", insecure=True)
    report = result.report["mtd"]
    report["run_wall_s"] = time.perf_counter() - began
    return report


def run_table(run: dict[str, Any]) -> list[str]:
    out = [
        "",
        "### 6. MTD in a run (adaptive-defence, simulator)",
        "",
        "Each move is charged the migration model on the path to the PoP the auction chose; "
        "the plan assumed pop6's widest path to a PoP that may host the CNF (over pop5, "
        "which CTI keeps from hosting). Quota judged on the charged prediction.",
        "",
        "| CNF | k | method | to | path MB/s (planned) | downtime s (planned) "
        "| total s (planned) | cost $ | ASP before → after | outcome |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in run["moves"]:
        asp = "-" if m["asp_before"] is None else f"{m['asp_before']:.3f} → {m['asp_after']:.3f}"
        out.append(
            f"| {m['cnf']} | {m['k']} | {m['method']} | {m['destination'] or '-'} | "
            f"{'-' if m['bandwidth_mbps'] is None else format(m['bandwidth_mbps'], 'g')} "
            f"({m['planned_bandwidth_mbps']:g}) | "
            f"{m['predicted_downtime_s']:.2f} ({m['planned_downtime_s']:.2f}) | "
            f"{m['predicted_total_s']:.1f} ({m['planned_total_s']:.1f}) | "
            f"{'-' if m['cost_usd'] is None else format(m['cost_usd'], '.5f')} | {asp} | "
            f"{m['outcome']} |"
        )
    [unit] = run["units"]
    spent = ", ".join(f"{c} {v:.2f} s" for c, v in unit["downtime_spent_s"].items())
    out += [
        "",
        f"Budget {unit['budget_s']:.2f} s per CNF; spent {spent}; within quota: "
        f"{run['within_quota']}; moves cost {run['cost_usd']:.5f} $; "
        f"{len(run['replans'])} re-plans; members' switch-overs apart by "
        f"{unit['arrival_spread_s'] or '-'} s (per move k); run {run['run_wall_s']:.1f} s wall.",
    ]
    return out


LEVELS3 = ("low", "medium", "high")


def plot(result: dict[str, Any], placed: list[PolicyPoint], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    ax = axes[0, 0]
    rows = result["selector"]["rows"]
    names = [r["name"] for r in rows]
    ax.bar(names, [r["accuracy"] for r in rows], color="tab:blue")
    ax.set_ylabel("accuracy vs oracle")
    ax2 = ax.twinx()
    ax2.plot(names, [r["regret_downtime_s"] for r in rows], "o-", color="tab:red")
    ax2.set_ylabel("mean downtime regret (s)", color="tab:red")
    ax.set_title("Method selector on held-out containers")
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)

    ax = axes[0, 1]
    s = result["schedule"]["samples"]
    bins = np.linspace(0, max(s["simultaneous"]) if s["simultaneous"] else 1, 40)
    ax.hist(s["simultaneous"], bins=bins, alpha=0.6, label="all start at once")
    ax.hist(s["aligned"], bins=bins, alpha=0.6, label="start_i = max d − d_i (regressor)")
    ax.set_xlabel("arrival spread of a service's CNFs (s)")
    ax.set_ylabel("services")
    ax.set_title("Synchronised parallel migration")
    ax.legend()

    mdp = [p for p in placed if p.weights]
    base = [p for p in placed if not p.weights]
    for ax, (yname, ylabel, cname, clabel) in zip(
        axes[1],
        (
            ("cost", "cost ($ per day)", "downtime_s", "downtime (s per day)"),
            ("downtime_s", "downtime (s per day)", "cost", "cost ($ per day)"),
        ),
        strict=True,
    ):
        norm = matplotlib.colors.Normalize(
            vmin=min(getattr(p, cname) for p in placed), vmax=max(getattr(p, cname) for p in placed)
        )
        for group, marker, label in ((mdp, "o", "MOMDP optimum"), (base, "x", "fixed interval")):
            front_ = [p for p in group if p.pareto]
            rest = [p for p in group if not p.pareto]
            if front_:
                ax.scatter(
                    [p.mean_asp for p in front_],
                    [getattr(p, yname) for p in front_],
                    c=[getattr(p, cname) for p in front_],
                    norm=norm,
                    marker=marker,
                    cmap="viridis",
                    label=f"{label}, non-dominated",
                )
            if rest:
                ax.scatter(
                    [p.mean_asp for p in rest],
                    [getattr(p, yname) for p in rest],
                    marker=marker,
                    color="lightgrey",
                    label=f"{label}, dominated",
                )
        fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=ax, label=clabel)
        ax.set_xlabel("mean attack success probability over the day")
        ax.set_ylabel(ylabel)
        ax.set_title(f"Pareto front: security vs {yname.split('_')[0]} (colour: {clabel})")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, coarse weight grid")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    began, load_before = time.perf_counter(), os.getloadavg()

    gen_s, train = timed(lambda: generate(TRAIN_SEED, sizes.train_repeats))
    test = merge([generate(s, sizes.test_repeats) for s in TEST_SEEDS])
    sel, selector = selection(train, test)
    reg, regressor = regression(train, test)
    strat, placed = strategy(sizes)
    result: dict[str, Any] = {
        "benchmark": "mtd",
        "what": (
            "live-migration method selector and migration-time regressor on held-out seeds of "
            "the analytical CRIU model; synchronised parallel migration; MOMDP MTD strategy "
            "and its Pareto front (004_… Section 2)"
        ),
        "quick": args.quick,
        "sizes": asdict(sizes),
        "machine": describe(PACKAGES),
        "model": asdict(DEFAULT_MODEL),
        "objective": asdict(OBJECTIVE),
        "train": {
            "seed": TRAIN_SEED,
            "containers": len(train.instances),
            "migrations": len(train),
            "generate_s": gen_s,
        },
        "findings": findings(test),
        "selector": sel,
        "regressor": reg,
        "schedule": scheduling(selector, regressor, sizes),
        "strategy": strat,
        "planner": planning(sizes),
        "run": in_run(),
    }
    result["total_wall_s"] = time.perf_counter() - began
    result["load_average_1_5_15_min"] = {"before": load_before, "after": os.getloadavg()}

    text = "\n".join(
        [
            "## MTD benchmark (`benchmarks/bench_mtd.py`"
            + (" --quick" if args.quick else "")
            + ")",
            "",
            f"Total wall time {result['total_wall_s']:.1f} s on "
            f"{result['machine']['cpus_usable']} CPUs ({result['machine']['cpu_model']}).",
            "",
            *tables(result),
            "",
        ]
    )
    print(text)
    RESULTS.mkdir(exist_ok=True)
    samples = result["schedule"].pop("samples")
    plot(
        {**result, "schedule": {**result["schedule"], "samples": samples}},
        placed,
        RESULTS / "mtd.png",
    )
    (RESULTS / "mtd.json").write_text(json.dumps(clean(result), indent=2) + "\n")
    (RESULTS / "mtd.md").write_text(text)


if __name__ == "__main__":
    main()
