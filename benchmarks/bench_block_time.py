"""Attestation on a JSON-RPC chain that mines a block every 2 s and every 12 s: what the
block time does to a run of agents as processes.

For each block time a Hardhat node of its own (`npx hardhat node` in tools/ledger, in a
process group of its own, stopped with the whole group at the end, also on failure)
mines on an interval (`evm_setAutomine false`, `evm_setIntervalMining`); a fresh node,
so that every block the run measures was mined at that interval. On it `secmas run
--processes --ledger URL` runs ddos-6pop without its attack (as
tests/e2e/test_block_time.py: the runs are about the chain, and a run too short to
mitigate an attack fails its acceptance), each a `Case` of `CASES`:

- refused: a period the chain cannot carry (`secmas.api.blocktime`: shorter than two
  block intervals of wall time) must end with exit 2 and the reason before any work;
- fixed: a period that fits (2 s blocks: 10 simulated s at 2x real time, 5 wall s;
  12 s blocks: 30 s at 1x), its steps' spacing measured;
- adapt: the refused period with `security.attestation.block_time: adapt`, lengthened by
  the run to two block intervals (the run's warning and its gas report's `period_s`).

Recorded per run, from report.json and the node: exit status and wall seconds; the
bring-up (the workflow's steps 2 to 13-14: agents started, contracts, registration,
credentials, the initial attestation and first mutual round, the key); each mutual step
(`trust.attestations`: step, simulated second, block, the block's timestamp, wall ms);
the spacing of the periodic steps in simulated and in block-timestamp seconds against
the period (the timetable starts the next step one period after the previous one
ended, so a spacing is the period plus that step's own time); the gas per step and by
function (`trust.gas`, read from the receipts); the block interval as a run measures it
(`secmas.ledger.blocks.measure_interval`, taken after the run; a refusal quotes the run's
own), the gaps between the timestamps of every block mined while it ran, the entries that
did not pass and the run's warning and error lines.

Last, the gas of one step in its two forms, on the Hardhat node (automine) and on the
in-process EVM, for the same pipeline of 6 agents after the same initial attestation and
with a sealed reference of the size the runs recorded: SECaaS's `provideReference` plus
the verifier's `recordResult` (the older form) against the verifier's `recordStep`
(SECaaS's signature off chain); the mean over one round of the plan.

Each run has a release store of its own, so the working tree as it stands is the signed
release; a run that fails because the tree was saved meanwhile (several people edit it)
is run again.

    python benchmarks/bench_block_time.py [--blocks 2 12] [--cases refused fixed adapt]

Writes benchmarks/results/block_time.json and block_time.png.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import eth_abi
import yaml

from machine import describe
from secmas.ledger import AgentRegistration, Ledger, agent_id, connect, pipeline_id
from secmas.ledger.abi import contract_abi
from secmas.ledger.blocks import measure_interval
from secmas.ledger.chain import Chain
from secmas.ledger.devnode import hardhat_node, stop_process_group
from secmas.ledger.rpcnode import JsonRpcNode

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SCENARIO = ROOT / "scenarios" / "ddos-6pop.yaml"
TOOLS = ROOT / "tools" / "ledger"
NODE_START_S = 90.0
RUN_TIMEOUT_S = 600.0
ATTEMPTS = 3
EDITED = ("differs from the reference", "is not the signed release", "module changed")
"""How a run fails when the shared working tree was saved while it ran: run again."""
BRING_UP = ("2", "3-4", "5", "6-7", "8", "9-12", "13-14")
"""The workflow steps from the agents' start to the pipeline key (`secmas run`'s
deployment workflow): the bring-up."""
FUNDING_WEI = 10**17
LOGGED = re.compile(r"(?i)warning|error|failed|timed out")
"""The run's log lines worth keeping: why a step failed or was late."""


@dataclass(frozen=True)
class Case:
    """One `secmas run` on a chain with `block_s` blocks: the scenario's period and
    duration (simulated s), the pace, what to do with a period too short for the chain,
    and the exit status expected."""

    name: str
    block_s: int
    speed: float
    period: float
    duration: float
    block_time: str = "refuse"
    expect: int = 0

    @property
    def period_wall_s(self) -> float:
        return self.period / self.speed


CASES = (
    Case("refused", 2, speed=10, period=10, duration=60, expect=2),
    Case("fixed", 2, speed=2, period=10, duration=60),
    Case("adapt", 2, speed=10, period=10, duration=160, block_time="adapt"),
    Case("refused", 12, speed=1, period=10, duration=100, expect=2),
    Case("fixed", 12, speed=1, period=30, duration=100),
    Case("adapt", 12, speed=1, period=10, duration=100, block_time="adapt"),
)
"""2 s blocks: 1 wall s per period is refused (it needs 4), 5 s holds, and at 10x real
time the period adapts to 40 simulated s; 12 s blocks: the scenario's 10 s period at real
time is refused (it needs 24), 30 s holds, and 10 s adapts to 24 s."""
CASE_ORDER = ("refused", "fixed", "adapt")


def rpc(url: str, method: str, *params: Any) -> Any:
    """One JSON-RPC call's result (the project's client, `JsonRpcNode.request`)."""
    return JsonRpcNode(url).request(method, params)


@contextmanager
def hardhat(block_ms: int) -> Iterator[str]:
    """A fresh Hardhat node on a free loopback port mining every `block_ms` ms, stopped
    with its whole process group (npx starts several processes) on leaving."""
    with hardhat_node(TOOLS, timeout=NODE_START_S) as url:
        rpc(url, "evm_setAutomine", False)
        rpc(url, "evm_setIntervalMining", block_ms)
        yield url


def write_scenario(case: Case, folder: Path) -> Path:
    """ddos-6pop without its attack, with the case's duration and attestation settings."""
    folder.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(SCENARIO.read_text())
    data.pop("attack")
    data["traffic"]["duration"] = case.duration
    attestation = data["security"]["attestation"]
    attestation.update(period=case.period, block_time=case.block_time)
    path = folder / f"{case.name}-{case.block_s}s.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def secmas_run(case: Case, url: str, folder: Path) -> tuple[int, float, str]:
    """Exit status, wall seconds and output of `secmas run --processes` of the case, in a
    process group of its own (its nats-server and agents stop with it on a timeout)."""
    scenario = write_scenario(case, folder)
    command = [sys.executable, "-m", "secmas", "run", str(scenario), "--processes", "-q"]
    command += ["--ledger", url, "--speed", f"{case.speed:g}", "-o", str(folder / "run")]
    command += ["--force"]
    env = {**os.environ, "COLUMNS": "200", "SECMAS_RELEASES": str(folder / "releases")}
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            status = process.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            status = 124
        finally:
            stop_process_group(process)
        log.seek(0)
        return status, round(time.perf_counter() - began, 1), log.read()


def block_stamps(url: str, first: int, last: int) -> dict[int, int]:
    """Each block's timestamp, from `first` to `last`."""
    return {
        n: int(rpc(url, "eth_getBlockByNumber", hex(n), False)["timestamp"], 16)
        for n in range(first, last + 1)
    }


def said(output: str, marker: str, end: str) -> str | None:
    """The output's message about the attestation period that holds `marker`, up to
    `end`, its line breaks undone (the console wraps it)."""
    flat = " ".join(output.split())
    at = flat.find(marker)
    if at < 0:
        return None
    start = flat.rfind("security.attestation.period", 0, at)
    stop = flat.find(end, at)
    return flat[start : stop + len(end) if stop >= 0 else at + 300]


def spacing(steps: list[dict[str, Any]], period: float, speed: float) -> dict[str, Any]:
    """How far apart the periodic steps were, in simulated s and in block-timestamp s,
    against the period."""
    times = [s["time"] for s in steps]
    stamps = [s["block_timestamp"] for s in steps]
    sim = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    chain = [b - a for a, b in itertools.pairwise(stamps)]
    blocks = [b["block"] - a["block"] for a, b in itertools.pairwise(steps)]
    return {
        "simulated_s": sim,
        "simulated_mean_s": round(statistics.fmean(sim), 2) if sim else None,
        "over_period_wall_s": [round((s - period) / speed, 2) for s in sim],
        "block_timestamps_s": chain,
        "blocks": blocks,
        "period_s": period,
        "period_wall_s": round(period / speed, 2),
    }


def run_row(case: Case, url: str, folder: Path) -> dict[str, Any]:
    """The case run once (again while a failure is the tree's edit), and what it showed."""
    before = int(rpc(url, "eth_blockNumber"), 16)
    edits = []
    for _ in range(ATTEMPTS):
        status, wall, output = secmas_run(case, url, folder)
        edited = [ln for ln in output.splitlines() if any(e in ln for e in EDITED)]
        if status in (0, case.expect) or not edited:
            break
        edits.append(edited[0].strip())
    after = int(rpc(url, "eth_blockNumber"), 16)
    row: dict[str, Any] = {**asdict(case), "exit": status, "wall_s": wall}
    row["runs_lost_to_edits"] = edits
    row["interval_measured"] = asdict(measure_interval(Chain(JsonRpcNode(url))))
    stamps = block_stamps(url, max(1, before), after)
    gaps = [stamps[n + 1] - stamps[n] for n in range(max(1, before), after)]
    row["blocks_mined"] = {
        "first": before,
        "last": after,
        "gap_median_s": statistics.median(gaps) if gaps else None,
        "gap_min_s": min(gaps, default=None),
        "gap_max_s": max(gaps, default=None),
    }
    if status == 2:
        row["refusal"] = said(output, "is shorter than", "block_time: adapt")
    row["adapted"] = said(output, "lengthened to", url)
    report_path = folder / "run" / "report.json"
    if status != 0 or not report_path.exists():
        row["output_tail"] = output[-3000:]
        return row
    report = json.loads(report_path.read_text())
    trust = report["trust"]
    workflow = {w["number"]: w["seconds"] for w in report["workflow"]}
    row["bring_up_s"] = round(sum(workflow.get(n, 0.0) for n in BRING_UP), 2)
    row["workflow_s"] = workflow
    row["run_wall_s"] = report["wall_seconds"]
    row["simulated_s"] = report["simulated_seconds"]
    mutual = []
    for entry in trust["attestations"]:
        if entry["kind"] != "mutual":
            continue
        mutual.append(
            {
                "step": entry["step"],
                "time": entry["time"],
                "block": entry["block"],
                "block_timestamp": stamps.get(entry["block"]),
                "wall_ms": entry["wall_ms"],
                "result": entry["result"],
                "tx": entry["tx"],
            }
        )
    periodic = [s for s in mutual if s["time"] is not None]
    period = trust["gas"]["period_s"]
    row["period_used_s"] = period
    row["steps"] = mutual
    row["attestations_by_kind"] = dict(Counter(e["kind"] for e in trust["attestations"]))
    row["not_passed"] = [e for e in trust["attestations"] if e["result"] != "pass"]
    row["log"] = [ln.strip() for ln in output.splitlines() if LOGGED.search(ln)][-40:]
    row["steps_during_operation"] = len(periodic)
    row["steps_nominal"] = int(report["simulated_seconds"] // period)
    row["spacing"] = spacing(periodic, period, case.speed)
    row["one_block_per_step"] = len({s["block"] for s in mutual}) == len(mutual)
    row["all_passed"] = all(e["result"] == "pass" for e in trust["attestations"])
    row["gas"] = trust["gas"]
    row["sealed_reference_bytes"] = sealed_length(url, mutual[-1]["tx"]) if mutual else None
    return row


def sealed_length(url: str, tx: str) -> int:
    """The sealed reference's length in a `recordStep` transaction's call data."""
    data = bytes.fromhex(rpc(url, "eth_getTransactionByHash", tx)["input"][2:])
    types = ["bytes32", "uint32", "bytes32", "bool", "bytes32", "bytes", "bytes"]
    assert contract_abi("AgentRegistry").function_of(data[:4]) == "recordStep"
    return len(eth_abi.decode(types, data[4:])[5])


def step_forms(ledger: Ledger, sealed_bytes: int, agents: int = 6) -> dict[str, Any]:
    """Gas of one mutual step as two transactions (`provideReference` + `recordResult`)
    and as one (`recordStep`), each on a pipeline of its own after the same bring-up,
    mean over one round of the plan (`agents` - 1 steps and the step back to the first)."""
    forms: dict[str, Any] = {}
    for form in ("two_tx", "one_tx"):
        contracts = ledger.deploy()
        pid = pipeline_id(f"bench-{form}")
        accounts = [ledger.new_account() for _ in range(agents)]
        contracts.registry.register_agents(
            pid,
            [
                AgentRegistration(a.address, agent_id(f"pop{i}"), os.urandom(32), os.urandom(32))
                for i, a in enumerate(accounts, 1)
            ],
            funding_per_agent_wei=FUNDING_WEI,
        )
        contracts.registry.set_plans(pid, [accounts])[0]
        secaas = contracts.registry.as_(ledger.secaas)
        secaas.record_initial(pid, accounts[0], os.urandom(32), True, os.urandom(32))
        by_address = {a.address: contracts.registry.as_(a) for a in accounts}
        gas: list[int] = []
        for _ in range(agents):
            step = secaas.current_step(pid)
            assert step is not None
            sealed = os.urandom(sealed_bytes)
            verifier = by_address[step.verifier]
            if form == "two_tx":
                provided = secaas.provide_reference(pid, step.index, sealed)
                recorded = verifier.record_result(pid, step.index, step.nonce, True, os.urandom(32))
                gas.append(provided.gas_used + recorded.gas_used)
            else:
                signature = secaas.sign_reference(pid, step, sealed)
                receipt = verifier.record_step(
                    pid, step.index, step.nonce, True, os.urandom(32), sealed, signature
                )
                gas.append(receipt.gas_used)
        forms[form] = {"gas_per_step": round(statistics.fmean(gas)), "steps": gas}
    forms["saved"] = round(1 - forms["one_tx"]["gas_per_step"] / forms["two_tx"]["gas_per_step"], 3)
    return forms


def gas_comparison(url: str, sealed_bytes: int) -> dict[str, Any]:
    """The two step forms on the node at `url` (switched to automine: gas does not depend
    on when a block is mined) and on the in-process EVM."""
    rpc(url, "evm_setIntervalMining", 0)
    rpc(url, "evm_setAutomine", True)
    return {
        "sealed_reference_bytes": sealed_bytes,
        "hardhat": step_forms(connect(url), sealed_bytes),
        "in_process_evm": step_forms(connect(None), sealed_bytes),
    }


def record_step_gas(row: dict[str, Any]) -> float:
    """A run's mean gas per `recordStep` transaction: a step still open when the run
    ended is mined without an entry in the report, so `trust.gas.per_step` (the step
    functions' gas over the reported steps) can count it twice."""
    spent = row["gas"]["by_function"]["AgentRegistry.recordStep"]
    return float(spent["gas"] / spent["transactions"])


def plot(rows: list[dict[str, Any]], comparison: dict[str, Any] | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ran = [r for r in rows if r.get("spacing")]
    fig, (space_ax, gas_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, r in enumerate(ran):
        wall = [s / r["speed"] for s in r["spacing"]["simulated_s"]]
        label = f"{r['block_s']} s blocks, {r['name']}: period {r['period_used_s']:g} sim s"
        xs = [i + 0.1 * k for k in range(len(wall))]
        space_ax.plot(xs, wall, "o", label=label, color=f"C{i}")
        right = i + 0.2 + 0.1 * len(wall)
        space_ax.hlines(r["spacing"]["period_wall_s"], i - 0.2, right, colors=f"C{i}")
        space_ax.hlines(2 * r["block_s"], i - 0.2, right, colors=f"C{i}", linestyles=":")
    space_ax.set_ylim(bottom=0)
    space_ax.set(
        ylabel="wall s between periodic steps\n(line: period, dotted: 2 block intervals)",
        xticks=range(len(ran)),
        xticklabels=[f"{r['block_s']} s\n{r['name']}" for r in ran],
    )
    space_ax.legend(fontsize=7)
    space_ax.grid(alpha=0.3)
    bars: dict[str, float] = {}
    for r in ran:
        bars[f"run\n{r['block_s']} s\n{r['name']}"] = record_step_gas(r) / 1000
    if comparison:
        for where, short in (("hardhat", "Hardhat"), ("in_process_evm", "EVM")):
            for form, words in (("two_tx", "2 tx"), ("one_tx", "1 tx")):
                bars[f"{short}\n{words}"] = comparison[where][form]["gas_per_step"] / 1000
    colours = ["C0" if label.startswith("run") else "C1" for label in bars]
    gas_ax.bar(range(len(bars)), list(bars.values()), color=colours)
    gas_ax.set_xticks(range(len(bars)), list(bars), fontsize=7)
    gas_ax.set(ylabel="k gas per mutual step (runs: per recordStep)")
    gas_ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, nargs="+", default=[2, 12], help="block times, s")
    parser.add_argument("--cases", nargs="+", default=list(CASE_ORDER), help="of each block time")
    parser.add_argument(
        "--merge", action="store_true", help="keep the last results' rows of other cases"
    )
    parser.add_argument("--replot", action="store_true", help="draw the PNG from the JSON")
    args = parser.parse_args()
    data, image = RESULTS / "block_time.json", RESULTS / "block_time.png"
    if args.replot:
        last = json.loads(data.read_text())
        plot(last["rows"], last["step_forms"], image)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # nodes stopped on the way out
    load = [os.getloadavg()]
    rows: list[dict[str, Any]] = []
    comparison = None
    for block_s in args.blocks:
        cases = [c for c in CASES if c.block_s == block_s and c.name in args.cases]
        with hardhat(block_s * 1000) as url, tempfile.TemporaryDirectory() as folder:
            for case in cases:
                print(f"{block_s} s blocks: {case.name}", file=sys.stderr, flush=True)
                row = run_row(case, url, Path(folder) / case.name)
                print(f"  exit {row['exit']} in {row['wall_s']} s", file=sys.stderr, flush=True)
                rows.append(row)
            sealed = next((r["sealed_reference_bytes"] for r in rows if r.get("steps")), None)
            if comparison is None and sealed:
                comparison = gas_comparison(url, sealed)
        load.append(os.getloadavg())
    if args.merge and data.exists():
        last = json.loads(data.read_text())
        ran = {(r["block_s"], r["name"]) for r in rows}
        kept = [r for r in last["rows"] if (r["block_s"], r["name"]) not in ran]
        rows = sorted(kept + rows, key=lambda r: (r["block_s"], CASE_ORDER.index(r["name"])))
        comparison = comparison or last["step_forms"]
    result = {
        "benchmark": "block_time",
        "what": "secmas run --processes of ddos-6pop without its attack on a fresh Hardhat "
        "node per block time (interval mining): a refused period (exit 2), one that fits, "
        "one adapted; each mutual step's simulated second and block, their spacing against "
        "the period, bring-up (workflow steps 2 to 13-14), gas per step from the receipts; "
        "and one step as two transactions vs recordStep on Hardhat and the in-process EVM",
        "machine": describe(["py-evm", "nats-py"], load_average=load),
        "rows": rows,
        "step_forms": comparison,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    data.write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, comparison, image)
    print(f"wrote {data} and {image}", file=sys.stderr)


if __name__ == "__main__":
    main()
