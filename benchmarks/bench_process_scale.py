"""Bring-up time and resident memory of N agents as OS processes on one machine.

Each size N (default 12, 25, 50, 100) is a Gabriel graph of N PoPs made as topohub makes
them (`gabriel.py`, instance 0), one agent per PoP, run as `secmas run --processes` runs
it (`operate_processes`, in a subprocess of its own) with the full trust layer
(in-process EVM over HTTPS, TLS NATS with an nkey per agent, SECaaS's initial
attestation and N-1 mutual steps, the first key epoch) and a short operation
(`--duration` simulated s at `--speed`). Its release store is its own, so the working
tree as it stands is the signed release (`secmas.trust.release`: made on first use); a
run that fails because the tree was saved meanwhile (several people edit it) is run
again. While it runs, every agent process under it is sampled each `SAMPLE_S` wall
seconds from /proc: its resident set (VmRSS), its private memory (Private_Clean +
Private_Dirty of smaps_rollup: what this process alone costs, shared pages left out) and
its proportional set (Pss: its private pages and its share of those it shares with the
spawner it was forked from and its siblings; the sum over agents is what they cost).

Reported per N: its bring-up (wall seconds from the workflow's step 2, the agents
started, to the first tick: every agent joined, registered, welcomed, attested, keyed
and ready), each step's share, the whole run's wall seconds, how the run ended, and the
agents' RSS and private memory at the last sample with all N alive (steady state: after
operation, before the stop). A size that fails is recorded with its error, and the
larger ones are still tried.

The simulated 1 000 PoPs (and 3 000) on the virtual clock, in one process, are
`bench_scale.py --large` (`scale.json`'s `large`).

    python benchmarks/bench_process_scale.py [--sizes 12 25 50 100] [--speed 2] [--duration 30]
        [--interval S] [--merge]

With `--interval S` the scenario sets `security.attestation.interval` (attestation groups
sized to re-attest every agent within S simulated seconds) and each row records the
longest any agent went unmeasured; `--merge` keeps the last results' other rows.

Writes benchmarks/results/process_scale.json and process_scale.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gabriel import gabriel
from machine import describe
from secmas.scenario.topology import scenario_from_graph

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SIZES = (12, 25, 50, 100)
SAMPLE_S = 2.0
ATTEMPTS = 5
EDITED = ("differs from the reference", "is not the signed release")
"""How a run fails when the shared working tree was saved while it ran (its reference is
made at its start, the agents measure the files as they find them): run again."""
MIB = 1024 * 1024


def write_scenario(nodes: int, duration: float, folder: Path, interval: float | None) -> Path:
    """The DDoS scenario on `gabriel/<nodes>/0`, seed 1, `duration` simulated s; with
    `interval`, attestation groups sized to re-attest every agent that often."""
    key = f"gabriel/{nodes}/0"
    scenario = scenario_from_graph(gabriel(nodes, nodes), key, seed=1)
    data = scenario.model_dump(mode="json", exclude_none=True)
    data["traffic"]["duration"] = duration
    if interval is not None:
        data["security"]["attestation"]["interval"] = interval
    path = folder / f"gabriel-{nodes}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def _memory(pid: int) -> tuple[int, int, int] | None:
    """(RSS, private, proportional bytes) of `pid` if it is an agent process (forked by
    the run's spawner, which names it `agent <PoP>`), else None."""
    try:
        if not Path(f"/proc/{pid}/comm").read_text().startswith("agent "):
            return None
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return None
    fields = {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in rollup if ln.endswith("kB")}
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return fields.get("Rss", 0), private, fields.get("Pss", 0)


@dataclass
class Sampler:
    """The run's agent processes' memory, every `SAMPLE_S` s, in a thread."""

    pid: int
    agents: int
    started: float
    samples: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            found = [m for m in map(_memory, _children(self.pid)) if m is not None]
            if found:
                self.samples.append(
                    {
                        "t_s": round(time.perf_counter() - self.started, 1),
                        "agents": len(found),
                        "rss": [m[0] for m in found],
                        "private": [m[1] for m in found],
                        "pss": [m[2] for m in found],
                    }
                )

    def stop(self) -> None:
        self._stop.set()

    def steady(self) -> dict[str, Any] | None:
        """Per-agent memory at the last sample with every agent alive."""
        full = [s for s in self.samples if s["agents"] >= self.agents]
        if not full:
            return None
        last = full[-1]
        rss, private = sorted(last["rss"]), sorted(last["private"])
        return {
            "at_s": last["t_s"],
            "rss_mib_mean": round(sum(rss) / len(rss) / MIB, 1),
            "rss_mib_max": round(rss[-1] / MIB, 1),
            "private_mib_mean": round(sum(private) / len(private) / MIB, 1),
            "pss_mib_mean": round(sum(last["pss"]) / len(last["pss"]) / MIB, 1),
            "rss_mib_total": round(sum(rss) / MIB, 1),
        }


def measure(
    nodes: int, speed: float, duration: float, timeout: float, interval: float | None
) -> dict[str, Any]:
    """`measured`, run again (up to `ATTEMPTS` times) while a failure is the tree's edit."""
    edits = []
    for _ in range(ATTEMPTS):
        row = measured(nodes, speed, duration, timeout, interval)
        edited = [ln for ln in row.pop("log") if any(e in ln for e in EDITED)]
        if "error" not in row or not edited:
            return {**row, "runs_lost_to_edits": edits}
        edits.append(edited[0])
    return {**row, "runs_lost_to_edits": edits}


def measured(
    nodes: int, speed: float, duration: float, timeout: float, interval: float | None
) -> dict[str, Any]:
    """One run of `nodes` agents as processes (`one`, in a subprocess of its own whose
    agent processes are sampled), its bring-up and memory."""
    with tempfile.TemporaryDirectory(prefix=f"procscale{nodes}-") as folder:
        command = [sys.executable, __file__, "--one", str(nodes), "--folder", folder]
        command += ["--speed", str(speed), "--duration", str(duration)]
        if interval is not None:
            command += ["--interval", str(interval)]
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "SECMAS_RELEASES": folder}
        print(f"{nodes} agents as processes", file=sys.stderr, flush=True)
        began = time.perf_counter()
        run = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment, text=True
        )
        sampler = Sampler(run.pid, nodes, began)
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        try:
            output, log = run.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            run.terminate()
            output, log = run.communicate()
        sampler.stop()
        thread.join()
        lines = output.strip().splitlines()
        row = json.loads(lines[-1]) if lines else {"error": f"exit status {run.returncode}"}
        row.update(
            agents=nodes,
            interval_s=interval,
            duration_s=duration,
            speed=speed,
            wall_s=round(time.perf_counter() - began, 1),
            steady=sampler.steady(),
            peak_agents_rss_mib=max(
                (round(sum(s["rss"]) / MIB, 1) for s in sampler.samples), default=None
            ),
        )
        print(f"  {json.dumps(row)}", file=sys.stderr, flush=True)
        return {**row, "log": log.splitlines()}


def one(
    nodes: int, folder: Path, speed: float, duration: float, interval: float | None
) -> dict[str, Any]:
    """In the subprocess: the run, timed from step 2 (the agents started) to its first
    tick (every agent joined, attested, keyed and ready), each step, how it ended and the
    longest any agent went unmeasured."""
    from secmas.pipeline.outside import operate_processes
    from secmas.scenario.loader import load_scenario

    path = write_scenario(nodes, duration, folder, interval)
    told: dict[str, float] = {}
    ticked: list[float] = []

    def progress(_now: float, _duration: float) -> None:
        if not ticked:
            ticked.append(time.perf_counter())

    row: dict[str, Any] = {}
    try:
        result = asyncio.run(
            operate_processes(
                load_scenario(path),
                path,
                workdir=folder / "run",
                speed=speed,
                progress=progress,
                steps=lambda number, _name: told.setdefault(number, time.perf_counter()),
            )
        )
        trust = result.trust or {}
        row.update(
            attestations=len(trust.get("attestations", [])),
            auctions=len(result.journal.auctions),
            longest_gap_s=(trust.get("measurement") or {}).get("longest_gap_s"),
        )
    except Exception as exc:  # the row says how it failed; the next size is still tried
        row["error"] = f"{type(exc).__name__}: {exc}"[-2000:]
    if "2" in told and ticked:
        row["bring_up_s"] = round(ticked[0] - told["2"], 1)
    ordered = sorted(told.items(), key=lambda item: item[1])
    ends = [at for _, at in ordered[1:]] + [ticked[0] if ticked else time.perf_counter()]
    row["steps_s"] = {n: round(end - at, 1) for (n, at), end in zip(ordered, ends, strict=True)}
    return row


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (time_ax, memory_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for interval, speed in sorted({(r.get("interval_s") or 0, r["speed"]) for r in rows}):
        done = [
            r for r in rows
            if "bring_up_s" in r and r["steady"]
            and ((r.get("interval_s") or 0), r["speed"]) == (interval, speed)
        ]  # fmt: skip
        chain = f"groups for {interval:g} s" if interval else "one chain"
        which = f"{chain}, speed {speed:g}"
        xs = [r["agents"] for r in done]
        time_ax.plot(xs, [r["bring_up_s"] for r in done], "o-", label=f"bring-up, {which}")
        if not interval:
            time_ax.plot(xs, [r["wall_s"] for r in done], "s--", label=f"whole run, {which}")
        if interval:
            continue
        memory_ax.plot(xs, [r["steady"]["rss_mib_mean"] for r in done], "o-", label="RSS")
        memory_ax.plot(xs, [r["steady"]["private_mib_mean"] for r in done], "s--", label="private")
        pss = [r["steady"].get("pss_mib_mean") for r in done]
        memory_ax.plot(xs, pss, "^:", label="proportional (Pss)")
    time_ax.set(xlabel="agents (processes)", ylabel="wall seconds")
    memory_ax.set(xlabel="agents (processes)", ylabel="MiB per agent process (steady)")
    for ax in (time_ax, memory_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--speed", type=float, default=2.0, help="simulated s per wall s")
    parser.add_argument("--duration", type=float, default=30.0, help="simulated s of traffic")
    parser.add_argument("--timeout", type=float, default=1800.0, help="wall s per run")
    parser.add_argument(
        "--interval", type=float, help="re-attestation interval (attestation groups), s"
    )
    parser.add_argument(
        "--merge", action="store_true", help="keep the other sizes' rows of the last results"
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.folder, args.speed, args.duration, args.interval)))
        return
    rows = [measure(n, args.speed, args.duration, args.timeout, args.interval) for n in args.sizes]
    data = RESULTS / "process_scale.json"
    if args.merge and data.exists():
        ran = {(n, args.interval, args.speed) for n in args.sizes}
        kept = [
            r for r in json.loads(data.read_text())["rows"]
            if (r["agents"], r.get("interval_s"), r.get("speed", args.speed)) not in ran
        ]  # fmt: skip
        rows = sorted(kept + rows, key=lambda r: (r.get("interval_s") or 0, r["agents"]))
    result = {
        "benchmark": "process_scale",
        "what": "operate_processes on gabriel/<N>/0 (full trust layer, in-process EVM "
        "over HTTPS, TLS NATS): bring-up seconds (step 2 to the first tick) and each agent "
        "process's RSS and private memory at the last sample with all N alive",
        "machine": describe(["nats-py", "cryptography", "py-evm"]),
        "speed_and_duration": "each row's speed (simulated s per wall s) and duration_s",
        "interval": "rows with interval_s ran attestation groups sized for it (longest_gap_s:"
        " the longest any agent went unmeasured); null: the seed's single chain",
        "large_simulated": "bench_scale.py --large: 1 000 and 3 000 PoPs on the virtual clock "
        "in one process (scale.json, 'large')",
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    image = RESULTS / "process_scale.png"
    data.write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, image)
    print(f"wrote {data} and {image}", file=sys.stderr)


if __name__ == "__main__":
    main()
