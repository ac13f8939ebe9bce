"""Workload prediction in scheduling (004_… Section 4.2): placements sized by a forecast of
the VNF's load over its lifetime, against placements sized by the load of the moment.

Each request places an Anomaly Detector (2 MB/s per unit, Table 5.6) that analyses one CNF's
traffic for `lifetime` minutes, through the NFV-A bid function (Eq. 3.1, 4.1–4.4) on the
six-PoP network of Section 5.3 (`scenarios/ddos-6pop.yaml`), the auctioneer at PoP 6. The
CNFs' traffic follows a daily-like cycle (period `period` minutes, random phase and level)
with noise; a request arrives every `every` minutes and its instance stops after its
lifetime, so several share the network. Policies, side by side on the same requests:

* current: the dissertation's bid, sized for the traffic when the request arrives
  (`GoalRequest.predicted_traffic` None), the named baseline;
* forecast: sized for the peak the LSTM forecaster (`secmas.analytics.forecast`, Annex A
  network, trained on other CNFs' traces) expects over the lifetime, from the last
  `window` minutes (`Forecaster.peak`);
* oracle: sized for the true peak over the lifetime (what a perfect forecast would give).

Per policy: requests placed and refused, placements later overloaded (some minute's traffic
above units × 2 MB/s), overloaded minutes, MB left unanalysed, mean units per placement.

    python benchmarks/bench_workload_prediction.py [--quick]

Writes benchmarks/results/workload_prediction.json and workload_prediction.png.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from machine import describe
from secmas.agents.bidding import Bid, GoalRequest, compute_bid, winner
from secmas.analytics.forecast import Forecaster
from secmas.network.infrastructure import Infrastructure
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
VNF, GOAL, AUCTIONEER = "anomaly_detector", "anomalousUsage", "pop6"
POLICIES = ("current", "forecast", "oracle")


@dataclass(frozen=True)
class Sizes:
    period: int = 120  # minutes of one traffic cycle
    window: int = 30  # minutes of history the forecaster reads
    lifetime: int = 30  # minutes a placed VNF lives (the forecast horizon)
    every: int = 6  # minutes between requests
    minutes: int = 1440  # length of the placement run
    train_cnfs: int = 16
    train_minutes: int = 480
    epochs: int = 10


QUICK = Sizes(minutes=360, train_cnfs=8, train_minutes=360, epochs=5)


def trace(rng: np.random.Generator, minutes: int, period: int) -> np.ndarray:
    """MB/s per minute of one CNF: a cycle of random level and phase, slow drift, noise."""
    t = np.arange(minutes)
    level = rng.uniform(1.2, 2.6)
    phase = rng.uniform(0, 2 * math.pi)
    swing = rng.uniform(0.3, 0.6)
    drift = 1 + rng.uniform(-0.1, 0.1) * np.sin(2 * math.pi * t / (5 * period))
    cycle = 1 + swing * np.sin(2 * math.pi * t / period + phase)
    noise = rng.normal(0, 0.04, minutes)
    return np.maximum(0.05, level * cycle * drift + noise)


def train(sizes: Sizes, seed: int) -> tuple[Forecaster, float]:
    rng = np.random.default_rng(seed)
    series = np.concatenate(
        [trace(rng, sizes.train_minutes, sizes.period) for _ in range(sizes.train_cnfs)]
    )[:, None]
    started = time.perf_counter()
    model = Forecaster.fit(
        series,
        [0],
        features=["traffic"],
        horizon=sizes.lifetime,
        window=sizes.window,
        epochs=sizes.epochs,
        lr=3e-3,
        seed=seed,
    )
    return model, time.perf_counter() - started


@dataclass
class Outcome:
    placed: int = 0
    refused: int = 0
    overloaded: int = 0
    overload_minutes: int = 0
    unanalysed_mb: float = 0.0
    units: int = 0
    minutes: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "placed": self.placed,
            "refused": self.refused,
            "overloaded_placements": self.overloaded,
            "overloaded_share": self.overloaded / max(1, self.placed),
            "overloaded_minutes_share": self.overload_minutes / max(1, self.minutes),
            "unanalysed_mb": self.unanalysed_mb,
            "mean_units": self.units / max(1, self.placed),
        }


def run_policy(
    policy: str,
    requests: list[tuple[int, np.ndarray, float]],
    sizes: Sizes,
    predicted: list[float],
) -> Outcome:
    """Place every request with `policy` in time order, freeing instances that ended."""
    scenario = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")
    infra = Infrastructure.from_scenario(scenario)
    throughput = infra.catalogue[VNF].throughput or 1.0
    base = GoalRequest.for_goal(scenario.goal(GOAL), AUCTIONEER)
    live: list[tuple[int, str, tuple[str, ...], float]] = []
    out = Outcome()
    for (arrival, life, current), peak in zip(requests, predicted, strict=True):
        for ending in [x for x in live if x[0] <= arrival]:
            infra.terminate(ending[1])
            if len(ending[2]) > 1:
                infra.release_path(list(ending[2]), ending[3])
            live.remove(ending)
        request = replace(
            base, traffic=current, predicted_traffic=None if policy == "current" else peak
        )
        bids = [b for pop in infra.pops if isinstance(b := compute_bid(infra, pop, request), Bid)]
        best = winner(bids, request.preferences)
        if best is None:
            out.refused += 1
            continue
        instance = infra.deploy(best.bidder, VNF, best.units)
        instance.busy = True  # it serves this request until it ends
        if len(best.path) > 1:
            infra.reserve_path(list(best.path), request.sizing_traffic)
        live.append((arrival + sizes.lifetime, instance.id, best.path, request.sizing_traffic))
        excess = np.maximum(0.0, life - best.units * throughput)
        out.placed += 1
        out.units += best.units
        out.minutes += len(life)
        out.overload_minutes += int((excess > 1e-9).sum())
        out.overloaded += int(bool((excess > 1e-9).any()))
        out.unanalysed_mb += float(excess.sum() * 60)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run, small training set")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    torch.set_num_threads(1)
    model, fit_s = train(sizes, args.seed)
    rng = np.random.default_rng(args.seed + 1000)
    requests, histories = [], []
    for arrival in range(sizes.window, sizes.minutes - sizes.lifetime, sizes.every):
        series = trace(rng, arrival + sizes.lifetime + 1, sizes.period)
        history = series[arrival - sizes.window : arrival]
        requests.append((arrival, series[arrival : arrival + sizes.lifetime], float(history[-1])))
        histories.append(history)
    started = time.perf_counter()
    forecast = [model.peak(h[:, None]) for h in histories]
    per_forecast = (time.perf_counter() - started) / len(histories)
    truth = [float(life.max()) for _, life, _ in requests]
    peaks = {"current": [r[2] for r in requests], "forecast": forecast, "oracle": truth}
    results = {p: run_policy(p, requests, sizes, peaks[p]).summary() for p in POLICIES}
    errors = np.array(forecast) - np.array(truth)
    report = {
        "sizes": sizes.__dict__,
        "requests": len(requests),
        "forecaster": {
            "fit_s": fit_s,
            "forecast_ms": per_forecast * 1000,
            "peak_mae_mbps": float(np.abs(errors).mean()),
            "peak_bias_mbps": float(errors.mean()),
            "current_vs_peak_mae_mbps": float(
                np.abs(np.array(peaks["current"]) - np.array(truth)).mean()
            ),
        },
        "policies": results,
        "machine": describe(["torch", "numpy"], threads=1),
    }
    RESULTS.mkdir(exist_ok=True)
    suffix = "_quick" if args.quick else ""
    (RESULTS / f"workload_prediction{suffix}.json").write_text(json.dumps(report, indent=1))
    plot(results, RESULTS / f"workload_prediction{suffix}.png")
    print(json.dumps({"forecaster": report["forecaster"], "policies": results}, indent=1))


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = (
        ("overloaded_share", "placements later overloaded"),
        ("overloaded_minutes_share", "VNF-minutes overloaded"),
        ("mean_units", "units per placement"),
        ("refused", "requests refused"),
    )
    fig, axes = plt.subplots(1, len(metrics), figsize=(13, 3.4))
    for ax, (key, title) in zip(axes, metrics, strict=True):
        values = [results[p][key] for p in POLICIES]
        ax.bar(POLICIES, values, color=["#999999", "#2a7fbf", "#55a868"])
        ax.set_title(title, fontsize=10)
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.2f}" if isinstance(v, float) else str(v), ha="center", va="bottom")
    fig.suptitle("Anomaly Detector placements sized by the load now vs its forecast peak")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
