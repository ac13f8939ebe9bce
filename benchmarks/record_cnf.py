"""Recordings of the real CNF for the detection benchmarks.

`record` runs the emulated CNF of scenarios/cnf-emulated.yaml (Debian's nginx in its own
namespace and cgroup, real clients, real attack processes, read through a real Prometheus
at the 0.5 s scrape interval) exactly as `secmas detect dataset --dataplane emulated`
does (`pipeline.cnf_emulated.record`: normal behaviour, then each attack for `--seconds`
followed by as long of normal behaviour; no mitigation), with what that command does not
choose: a first normal phase of its own length (`--lead`, e.g. to train a detector on
another instance's normal part), each attack kind `--rounds` times in an order drawn
from `--seed`, and the
testbed's own seed and scale (another seed and scale make another CNF instance: other
clients' schedules and request sizes, another load, a fresh nginx). It writes the
labelled CSV and refuses (exit 1) a recording with a frozen run (`analytics.freshness`).

`check` reads recordings as the loaders do (`csvdata.read_recording`, which refuses frozen
runs) and writes their figures (rows, minutes, attack episodes per kind, identical
consecutive rows, the longest such run) to benchmarks/results/recordings.json and .md.

    sudo nice -n -10 .venv/bin/python benchmarks/record_cnf.py record \\
        -o benchmarks/recordings/cnf-emulated-attacks.csv --rounds 4 --seconds 15
    sudo nice -n -10 .venv/bin/python benchmarks/record_cnf.py record --seed 7 \\
        --scale 0.3 -o benchmarks/recordings/cnf-emulated-instance2.csv --rounds 1 \\
        --seconds 20 --lead 240
    .venv/bin/python benchmarks/record_cnf.py check benchmarks/recordings/*.csv

The long normal recording is `secmas detect dataset scenarios/cnf-emulated.yaml
--dataplane emulated --seconds 2460 --labels` under `nice -n -10` (so that a busy machine
does not stall the scrapes).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from secmas.analytics.csvdata import CSVDataError, read_recording
from secmas.analytics.events import events
from secmas.analytics.freshness import frozen_runs
from secmas.network.emulation.cnfattacks import AttackSettings, attacks
from secmas.network.emulation.trafficprofile import TrafficProfile
from secmas.pipeline.cnf_emulated import CNFRunSettings, record, write_recording
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "cnf-emulated.yaml"
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class RecordingFigures:
    """What a recording holds, and how fresh its rows are."""

    file: str
    rows: int
    minutes: float
    normal_rows: int
    episodes: dict[str, int]
    identical_rows: int
    """Rows identical in every metric to the row before (a stale scrape, or a quiet step)."""
    longest_identical_run: int
    frozen_runs: int


def attack_order(rounds: int, seed: int) -> list[str]:
    """Each attack kind `rounds` times, shuffled round by round (pure)."""
    rng = random.Random(seed)
    order: list[str] = []
    for _ in range(rounds):
        batch = list(attacks())
        rng.shuffle(batch)
        order += batch
    return order


def figures(path: Path) -> RecordingFigures:
    """The recording's figures (CSVDataError when the loaders would refuse it)."""
    series = read_recording(path)
    truth = series.truth()
    labels = np.full(len(series.values), "normal", dtype=object) if truth is None else truth
    seconds = series.seconds
    span = 0.0 if seconds is None or len(seconds) < 2 else float(seconds[-1] - seconds[0])
    same = np.all(series.values[1:] == series.values[:-1], axis=1)
    runs = frozen_runs(series.values, min_rows=2)
    return RecordingFigures(
        file=path.name,
        rows=len(series.values),
        minutes=round(span / 60, 2),
        normal_rows=int((labels == "normal").sum()),
        episodes=dict(sorted(Counter(e.label for e in events(labels)).items())),
        identical_rows=int(same.sum()),
        longest_identical_run=max((r.rows for r in runs), default=1),
        frozen_runs=len(frozen_runs(series.values)),
    )


def run_record(args: argparse.Namespace) -> int:
    """Record, write, then check the file; 1 when it is frozen somewhere."""
    order = attack_order(args.rounds, args.seed)
    settings = CNFRunSettings(
        scale=args.scale,
        seed=args.seed,
        attack=AttackSettings().scaled(args.attack_size),
        traffic=TrafficProfile() if args.traffic == "realistic" else None,
        restart_after=args.restart_after,
    )
    folder = Path(tempfile.mkdtemp(prefix="secmas-cnf-record-"))
    lead = args.seconds if args.lead is None else args.lead
    print(f"recording {lead:g} s of normal behaviour, then {', '.join(order)}")
    series, times = record(
        load_scenario(SCENARIO), folder, args.seconds, order, settings, lead=lead
    )
    shutil.rmtree(folder, ignore_errors=True)
    write_recording(args.out, series, times, labels=True)
    try:
        print(json.dumps(asdict(figures(args.out))))
    except CSVDataError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    return 0


def run_check(args: argparse.Namespace) -> int:
    """The figures of each recording, written to benchmarks/results; 1 if one is refused."""
    found, failed = [], 0
    for path in args.files:
        try:
            found.append(figures(path))
        except CSVDataError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            failed = 1
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "recordings.json").write_text(
        json.dumps([asdict(f) for f in found], indent=2) + "\n", encoding="utf-8"
    )
    lines = [
        "| recording | rows | minutes | normal rows | attack episodes | identical rows "
        "| longest identical run | frozen runs (≥ 8) |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for f in found:
        kinds = ", ".join(f"{k} {n}" for k, n in f.episodes.items()) or "none"
        lines.append(
            f"| {f.file} | {f.rows} | {f.minutes} | {f.normal_rows} | {kinds} "
            f"| {f.identical_rows} | {f.longest_identical_run} | {f.frozen_runs} |"
        )
    (RESULTS / "recordings.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="record the emulated CNF (root)")
    rec.add_argument("-o", "--out", type=Path, required=True, help="CSV file to write")
    rec.add_argument("--rounds", type=int, default=4, help="times each attack kind runs")
    rec.add_argument("--seconds", type=float, default=15.0, help="wall seconds per phase")
    rec.add_argument("--lead", type=float, help="wall seconds of the first normal phase")
    rec.add_argument(
        "--traffic", choices=("steady", "realistic"), default="steady", help="normal traffic"
    )
    rec.add_argument(
        "--attack-size", type=float, default=1.0, help="attacks' share of their full size"
    )
    rec.add_argument("--restart-after", type=float, help="restart nginx this many seconds in")
    rec.add_argument("--seed", type=int, default=0, help="attack order and testbed seed")
    rec.add_argument("--scale", type=float, default=0.2, help="share of the clients' rates")
    check = commands.add_parser("check", help="figures of recordings, as the loaders read them")
    check.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args()
    return run_record(args) if args.command == "record" else run_check(args)


if __name__ == "__main__":
    raise SystemExit(main())
