"""MTD moves measured against the migration model's prediction, on the emulated network.

On the emulated network of `scenarios/adaptive-emulated.yaml` (six PoPs, scale 0.025),
CNFs of several memory sizes (real key/value state: M MB × scale of sessions, the
working set rewritten at the model's dirty rate, a log at the disk-write rate) move
between PoP 6 and PoP 4 over their 5 MB/s link, alternately cold and by pre-copy, each
direction equally often, while a probe sends every CNF a request every 20 ms. For every
move the model's noise-free prediction (`MigrationModel.expected`, the planner's
baseline: the same load and the path's 5 MB/s, of which the CNF's own traffic takes 1
MB/s, as the transfer leaves it 20 %) is set beside what was measured: the clients'
downtime (longest run of failed probe requests), the total time (move start → first
answer from the destination) and the service-side freeze (source frozen → address
routed to the destination).

    sudo .venv/bin/python benchmarks/bench_mtd_emulated.py [--quick]

Writes benchmarks/results/mtd_emulated.json and .png.

`--record MINUTES` instead records measured migrations for the learned models:
sampled CNFs (CPU load uniform in [0.1, 0.9], resident memory log-uniform in [2, 24] MB,
disk writes uniform in [0, 1] MB/s) move between the two PoPs of one of four links
(pop2–pop3 4 MB/s, pop4–pop6 5, pop5–pop6 8, pop1–pop5 10), each once by every method (the
order rotating), each CNF started afresh with its own probe (so its disk log has the same
age at its first move whatever came before), until MINUTES have passed. Rows are
appended to src/secmas/data/mtd/measured-migrations.csv (`secmas.mtd.recording`) as they
are measured, so an interrupted recording keeps what it measured.

`--evaluate` (no root needed) calibrates the learned selector and regressor on that
recording (`secmas.mtd.calibration`: 5 folds of instances, trained on four, scored on the
fifth) for seeds 0–4, and writes both models' held-out errors and the resulting choice to
benchmarks/results/mtd_measured.json; a run uses seed 0's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from machine import describe
from secmas.mtd.calibration import calibrate
from secmas.mtd.emulated import shape_of
from secmas.mtd.migration import DEFAULT_MODEL, METHODS, Load
from secmas.mtd.recording import SHIPPED, MeasuredMigration, header, read_recording, to_dataset
from secmas.network.dataplane.routing import Network
from secmas.network.dataplane.stats import BYTES_PER_MB
from secmas.network.emulation.migration import (
    MIGRATIONS,
    TRANSFER_SHARE,
    MigrationFailed,
    MobileCNF,
    MobileCNFs,
)
from secmas.network.emulation.mobility import path_bytes_per_s
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import emulation_plan
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
SCENARIO = ROOT / "scenarios" / "adaptive-emulated.yaml"
HOME, AWAY = "pop6", "pop4"
PATH_MBPS = 5.0  # the pop6–pop4 link: both the routed path and the auction's usual choice
CPU, DISK, NET = 0.3, 0.1, 1.0
RECORDING = ROOT / "src" / "secmas" / "data" / "mtd" / SHIPPED
LINKS = (("pop2", "pop3"), ("pop4", "pop6"), ("pop5", "pop6"), ("pop1", "pop5"))
BATCH = 1


def load_of(memory_mb: float) -> Load:
    return Load(cpu=CPU, memory_mb=memory_mb, disk_mbps=DISK, net_mbps=NET)


def predicted(method: str, memory_mb: float) -> dict[str, float]:
    phases = DEFAULT_MODEL.expected(method, load_of(memory_mb), PATH_MBPS)
    return {"downtime_s": phases.downtime_s, "total_s": phases.total_s}


async def measure(network: EmulatedNetwork, sizes: list[float], repeats: int) -> list[dict]:
    """Every size's CNF moves 2 × `repeats` times per method, away and back in turn."""
    scale = network.plan.scale
    cnfs = MobileCNFs(network, Network.from_scenario(load_scenario(SCENARIO)))
    rows = []
    try:
        await cnfs.start(
            [MobileCNF(f"m{int(s)}", HOME, shape_of(load_of(s), scale)) for s in sizes]
        )
        await asyncio.sleep(1.0)
        for size in sizes:
            cnf = f"m{int(size)}"
            for round_ in range(2 * repeats):
                for method in MIGRATIONS if round_ % 2 == 0 else reversed(MIGRATIONS):
                    target = AWAY if cnfs.where(cnf) == HOME else HOME
                    result = await cnfs.move(cnf, target, method)
                    rows.append(
                        {
                            "memory_mb": size,
                            "method": method,
                            "round": round_,
                            "from": result.source,
                            "to": result.destination,
                            "predicted": predicted(method, size),
                            "measured": {
                                "downtime_s": result.downtime_s,
                                "total_s": result.total_s,
                                "frozen_s": result.frozen_s,
                            },
                            "state_bytes": result.state_bytes,
                            "pulls": len(result.rounds),
                            "verified": result.state_verified,
                        }
                    )
                    pred = rows[-1]["predicted"]
                    print(
                        f"{cnf} {method:8} {result.source}→{result.destination}: down "
                        f"{result.downtime_s:.2f} s (pred {pred['downtime_s']:.2f}), total "
                        f"{result.total_s:.2f} s (pred {pred['total_s']:.2f})",
                        flush=True,
                    )
                    await asyncio.sleep(0.5)
    finally:
        cnfs.stop()
    return rows


def link_mbps(network: EmulatedNetwork, topology: Network, a: str, b: str) -> float:
    """The scenario MB/s of the narrowest link routed a→b (the model's bandwidth)."""
    return path_bytes_per_s(network.plan, topology, a, b) / (BYTES_PER_MB * network.plan.scale)


def sample(rng: np.random.Generator, bandwidth: float) -> Load:
    """One CNF of the recording's design (see the module docstring)."""
    return Load(
        cpu=float(rng.uniform(0.1, 0.9)),
        memory_mb=float(np.exp(rng.uniform(np.log(2.0), np.log(24.0)))),
        disk_mbps=float(rng.uniform(0.0, 1.0)),
        net_mbps=(1.0 - TRANSFER_SHARE) * bandwidth,
    )


async def record_batch(
    network: EmulatedNetwork, first: int, rng: np.random.Generator, out: Any
) -> None:
    """`BATCH` sampled CNFs, each moved once by every method; rows written as measured."""
    topology = Network.from_scenario(load_scenario(SCENARIO))
    links = [LINKS[int(rng.integers(len(LINKS)))] for _ in range(BATCH)]
    loads = [sample(rng, link_mbps(network, topology, *link)) for link in links]
    cnfs = MobileCNFs(network, topology)
    try:
        await cnfs.start(
            [
                MobileCNF(f"r{first + i}", link[0], shape_of(load, network.plan.scale))
                for i, (link, load) in enumerate(zip(links, loads, strict=True))
            ]
        )
        await asyncio.sleep(1.0)
        for i, (link, load) in enumerate(zip(links, loads, strict=True)):
            instance, bandwidth = first + i, link_mbps(network, topology, *link)
            for j in range(len(METHODS)):
                method = METHODS[(instance + j) % len(METHODS)]
                cnf = f"r{instance}"
                target = link[1] if cnfs.where(cnf) == link[0] else link[0]
                try:
                    result = await cnfs.move(cnf, target, method.value)
                except MigrationFailed as exc:
                    print(f"{cnf} {method}: failed ({exc}); instance left out", flush=True)
                    break
                row = MeasuredMigration(
                    line=0,
                    instance=instance,
                    method=method,
                    load=load,
                    bandwidth=bandwidth,
                    source=result.source,
                    destination=result.destination,
                    state_bytes=result.state_bytes,
                    downtime_s=result.downtime_s,
                    total_s=result.total_s,
                    frozen_s=result.frozen_s,
                ).row()
                out.write(",".join(row) + "\n")
                out.flush()
                print(" ".join(row), flush=True)
                await asyncio.sleep(0.3)
    finally:
        cnfs.stop()


def record(minutes: float, seed: int) -> None:
    """Append measured migrations to the shipped recording for `minutes`."""
    rng = np.random.default_rng(seed)
    deadline = time.monotonic() + 60.0 * minutes
    scenario = load_scenario(SCENARIO)
    fresh = not RECORDING.exists()
    first = 0
    if not fresh:
        rows = [
            r for r in RECORDING.read_text(encoding="utf-8").splitlines()[1:] if r[:1].isdigit()
        ]
        first = 1 + max((int(r.split(",")[0]) for r in rows), default=-1)
    RECORDING.parent.mkdir(parents=True, exist_ok=True)
    with EmulatedNetwork(emulation_plan(scenario)) as network, RECORDING.open("a") as out:
        if fresh:
            started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            info = describe(["mininet"], load_average=os.getloadavg())
            out.write(
                header(
                    [
                        "Measured live migrations of real CNFs on the emulated engine.",
                        "Made by: python benchmarks/bench_mtd_emulated.py --record MINUTES "
                        f"(seed {seed}), started {started}.",
                        f"Scenario {SCENARIO.relative_to(ROOT)} (scale {scenario.network.scale}); "
                        "application-level migration (secmas.network.emulation.migration), "
                        "probe every 20 ms.",
                        f"Host: {info['cpu_count']} CPUs ({info['cpu_model']}), shared; "
                        "load average at start "
                        + " ".join(f"{v:.2f}" for v in info["load_average"])
                        + ".",
                        "Units: MB, MB/s, seconds of the scenario (state and links both scaled).",
                    ]
                )
            )
        while time.monotonic() < deadline:
            asyncio.run(record_batch(network, first, rng, out))
            first += BATCH


def evaluate(seeds: range) -> None:
    """Both models' held-out errors on the shipped recording, per fold seed."""
    started = time.perf_counter()
    migrations = read_recording(RECORDING)
    data = to_dataset(migrations)
    with threadpool_limits(limits=1):
        runs = [calibrate(data, seed=seed).to_json() | {"seed": seed} for seed in seeds]
    lines = RECORDING.read_text(encoding="utf-8").splitlines()
    result = {
        "benchmark": "mtd_measured",
        "machine": describe([], load_average=os.getloadavg()),
        "recording": {
            "file": str(RECORDING.relative_to(ROOT)),
            "header": [line[2:] for line in lines if line.startswith("# ")],
            "migrations": len(migrations),
            "instances": len(data.instances),
        },
        "calibrations": runs,
        "seconds": time.perf_counter() - started,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mtd_measured.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"{len(data.instances)} instances, {len(migrations)} migrations")
    for row in runs[0]["regressor"]:
        key = (row["method"], row["target"])
        chosen = [
            r["model"]
            for run in runs
            for r in run["regressor"]
            if (r["method"], r["target"]) == key
        ]
        print(
            f"{row['method']:9} {row['target']:10}: MAE learned {row['learned_mae_s']:.3f} s, "
            f"analytic {row['analytic_mae_s']:.3f} s → {row['model']} "
            f"(learned in {chosen.count('learned')}/{len(runs)} seeds)"
        )
    sel = runs[0]["selector"]
    print(
        f"selector: accuracy learned {sel['learned_accuracy']:.3f} / analytic "
        f"{sel['analytic_accuracy']:.3f}, regret {sel['learned_regret']:.4f} / "
        f"{sel['analytic_regret']:.4f} → {sel['model']}"
    )


def summary(rows: list[dict], sizes: list[float]) -> list[dict[str, Any]]:
    """Per size and method: the prediction, the measured median and range, and ratios."""
    out = []
    for size in sizes:
        for method in MIGRATIONS:
            chosen = [r for r in rows if r["memory_mb"] == size and r["method"] == method]
            entry: dict[str, Any] = {
                "memory_mb": size,
                "method": method,
                "moves": len(chosen),
                "state_kb": statistics.median(r["state_bytes"] for r in chosen) / 1e3,
                "predicted": chosen[0]["predicted"],
            }
            for what in ("downtime_s", "total_s", "frozen_s"):
                values = [r["measured"][what] for r in chosen]
                entry[f"measured_{what}"] = {
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                }
            for what in ("downtime_s", "total_s"):
                entry[f"ratio_{what}"] = (
                    entry[f"measured_{what}"]["median"] / entry["predicted"][what]
                )
            out.append(entry)
    return out


def plot(entries: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(14, 4.6))
    for axis, what, title in (
        (axes[0], "downtime_s", "downtime (s)"),
        (axes[1], "total_s", "total migration time (s)"),
    ):
        labels = [f"{e['memory_mb']:g} MB\n{e['method']}" for e in entries]
        axis.set_yscale("symlog", linthresh=1.0)
        xs = range(len(entries))
        pred = [e["predicted"][what] for e in entries]
        meas = [e[f"measured_{what}"]["median"] for e in entries]
        low = [m - e[f"measured_{what}"]["min"] for m, e in zip(meas, entries, strict=True)]
        high = [e[f"measured_{what}"]["max"] - m for m, e in zip(meas, entries, strict=True)]
        axis.bar([x - 0.2 for x in xs], pred, 0.4, label="model (predicted)", color="#9ab")
        axis.bar([x + 0.2 for x in xs], meas, 0.4, yerr=[low, high], label="measured", color="#c63")
        axis.set_xticks(list(xs), labels, fontsize=7, rotation=90)
        axis.set_title(title)
        axis.legend(fontsize=8)
    fig.suptitle("MTD moves on the emulated network: model vs measured (pop6↔pop4, 5 MB/s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two sizes")
    parser.add_argument("--record", type=float, metavar="MINUTES", help="record migrations")
    parser.add_argument("--seed", type=int, default=41, help="the recording's design seed")
    parser.add_argument("--evaluate", action="store_true", help="learned vs analytic models")
    args = parser.parse_args()
    if args.record is not None:
        record(args.record, args.seed)
        return
    if args.evaluate:
        evaluate(range(5))
        return
    sizes = [8.0, 24.0] if args.quick else [8.0, 16.0, 32.0]
    repeats = 1
    started = time.perf_counter()
    scenario = load_scenario(SCENARIO)
    with EmulatedNetwork(emulation_plan(scenario)) as network:
        rows = asyncio.run(measure(network, sizes, repeats))
    entries = summary(rows, sizes)
    RESULTS.mkdir(exist_ok=True)
    data = {
        "benchmark": "mtd_emulated",
        "machine": describe(["mininet"], load_average=os.getloadavg()),
        "scenario": str(SCENARIO.relative_to(ROOT)),
        "scale": scenario.network.scale,
        "path_mbps": PATH_MBPS,
        "load": {"cpu": CPU, "disk_mbps": DISK, "net_mbps": NET},
        "probe_interval_s": 0.02,
        "baseline": "MigrationModel.expected (the planner's noise-free prediction)",
        "summary": entries,
        "moves": rows,
        "seconds": time.perf_counter() - started,
    }
    (RESULTS / "mtd_emulated.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    plot(entries, RESULTS / "mtd_emulated.png")
    for e in entries:
        print(
            f"{e['memory_mb']:g} MB {e['method']:8}: downtime {e['predicted']['downtime_s']:.2f}"
            f" predicted / {e['measured_downtime_s']['median']:.2f} measured, total "
            f"{e['predicted']['total_s']:.2f} / {e['measured_total_s']['median']:.2f}"
        )


if __name__ == "__main__":
    main()
