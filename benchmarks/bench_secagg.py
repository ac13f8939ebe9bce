"""Secure aggregation (004_… Section 5) beside Flower's SecAgg+, on the same inputs.

Inputs: n clients × L values uniform in [−0.5, 0.5] from `numpy.random.default_rng(seed)`
(the same draw in both processes); clipping range 1.0, 16-bit quantisation (Flower: a
quantisation range of 2^16, modulus 2^32). Dropouts: the given share of the clients falls
silent after sharing its keys and before sending its masked input (the costly case: their
pairwise masks must be rebuilt); for MPC they send nothing.

Threat model of every row (`secmas.secagg.neighbours.choose`): 5 % of the clients corrupt
(colluding with the server), dropout rate = the row's (at least 10 %), σ = 40, η = 20.

(1) `secmas` centralised, complete graph (Bonawitz et al. 2017): t from the threat model.
(2) `secmas` centralised, SecAgg+ sparse graph: k and t from the threat model.
(3) `secmas` MPC, 3 computation parties.
(4) Flower 1.41 SecAgg+ (`SecAggPlusWorkflow` + `secaggplus_mod`, run unchanged over an
    in-memory Grid; messages copied through Flower's protobuf serialisation as over a
    network, and their sizes counted) with the same number of shares (k + 1) and the same
    threshold as (2); and once, with all n shares, beside (1) on the headline case.
    Flower is installed by this script into its own virtual environment
    (`benchmarks/.venv-flwr`), because it pins older web packages.

Time: wall time of the whole session in one process — every client and the server, one
after the other, on one core (deployed, clients compute in parallel: the per-client
figure is then what a client waits for); bytes: every frame both ways (ours: the wire
format; Flower: protobuf sizes). Target: 100 clients × 10^5 values, 10 % dropout, under
10 s on 2 cores and not slower than Flower's SecAgg+.

(5) Robust aggregation under MPC (2 parties + dealer): clamping, norm bound and
    coordinate-wise trimmed mean (β = 0.2), n = 10, 50, L = 10^4.
(6) Federated training of the LSTM autoencoder (FedAvg over 6 agents' own normal
    telemetry of scenarios/cnf-attack.yaml, every exchange a secure sum) against the same
    model trained centrally on the pooled data: window F1 on held-out attack runs.

(7) Transport (`--transport`): what signing every message and carrying the rounds over
    the agents' bus cost, on the complete graph without dropout, in one run: the
    protocol in one process with unsigned frames (the path of (1)-(4) before every
    message was signed), with signed envelopes (`secmas.secagg.envelope`, the default
    now), among `ClientAgent`s on the in-memory bus, and on a real nats-server (one
    connection per agent and one for the server, in this process); beside the previous
    full run's figures for the same rows (ours and Flower's, from the JSON it left) and,
    unless --no-flower, Flower's SecAgg+ with all n shares measured in this run.

    python benchmarks/bench_secagg.py [--quick] [--no-flower] [--transport]

Writes benchmarks/results/secagg.json, secagg.md and secagg.png (`--transport` updates
the JSON's "transport" section and the tables in place, keeping the rest).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from machine import describe
from secmas.analytics.datasets import episode_series, normal_series
from secmas.network.dataplane.cnf import ATTACK_CONDITIONS
from secmas.scenario.loader import load_scenario
from secmas.secagg import RobustOptions, ThreatModel, run_mpc, run_secagg
from secmas.secagg.agent import BusRun, ClientAgent, aggregate_over_bus
from secmas.secagg.federated import (
    FederatedPlan,
    central_detector,
    secagg_aggregator,
    train_federated,
    window_f1,
)
from secmas.secagg.quantise import Quantiser
from secmas.secagg.robust import robust_mpc, trimmed_mean
from secmas.secagg.session import Identities, make_config
from secmas.transport.broker import NatsServer, find_nats_server
from secmas.transport.bus import Bus
from secmas.transport.memory import MemoryBus
from secmas.transport.nats import NatsBus

RESULTS = Path(__file__).parent / "results"
FLOWER_VENV = Path(__file__).parent / ".venv-flwr"
FLOWER = "flwr==1.41.0"
SCENARIO = Path(__file__).parent.parent / "scenarios" / "cnf-attack.yaml"
PACKAGES = ("cryptography", "numpy", "torch")
SEED = 0
SCALE = 0.5
QUANTISER = Quantiser(clip=1.0, bits=16)
CORRUPT = 0.05
TARGET_S = 10.0
HEADLINE_PAIRS = {"Flower SecAgg+": "secmas SecAgg+", "Flower, all n shares": "secmas complete"}
"""Each Flower variant of the headline and the variant of ours it is compared with."""


@dataclass(frozen=True)
class Sizes:
    clients: tuple[int, ...]
    lengths: tuple[int, ...]
    dropouts: tuple[float, ...]
    robust_clients: tuple[int, ...]
    robust_length: int
    flower_complete: bool
    agents: int
    seconds: float
    rounds: int
    local_epochs: int
    test_seeds: tuple[int, ...]


FULL = Sizes(
    (10, 50, 100),
    (10_000, 100_000),
    (0.0, 0.1, 0.3),
    (10, 50),
    10_000,
    True,
    6,
    1200,
    10,
    3,
    (2001, 2002, 2003),
)
QUICK = Sizes((10, 50), (10_000,), (0.0, 0.1), (10,), 2_000, False, 4, 400, 2, 1, (2001,))


def threat_for(dropout: float) -> ThreatModel:
    return ThreatModel(corrupt=CORRUPT, dropout=max(dropout, 0.1))


def inputs_for(n: int, length: int) -> np.ndarray:
    return np.random.default_rng(SEED).uniform(-SCALE, SCALE, (n, length))


def dropped(n: int, dropout: float) -> list[int]:
    return list(range(round(dropout * n)))


# -- ours ---------------------------------------------------------------------------------


def ours(n: int, length: int, dropout: float, sparse: bool) -> dict[str, Any]:
    data = inputs_for(n, length)
    inputs = {i: data[i] for i in range(n)}
    config, graph = make_config(
        range(n), length, threat=threat_for(dropout), sparse=sparse, quantiser=QUANTISER
    )
    began = time.perf_counter()
    run = run_secagg(inputs, config=config, dropouts={2: dropped(n, dropout)})
    wall = time.perf_counter() - began
    agg = run.aggregate
    true = data[list(agg.survivors)].sum(axis=0)
    exact = np.array_equal(
        agg.integers, sum(QUANTISER.quantise(data[c]).values for c in agg.survivors)
    )
    per_client = [r.client_seconds for r in run.rounds]
    return {
        "seconds": wall,
        "client_seconds_mean": sum(per_client) / n,
        "server_seconds": run.server_seconds,
        "bytes": run.bytes_total,
        "bytes_per_client_up": sum(r.bytes_up for r in run.rounds) / n,
        "degree": config.degree,
        "threshold": config.threshold,
        "survivors": len(agg.survivors),
        "max_error_of_sum": float(np.max(np.abs(agg.total - true))),
        "error_bound": agg.error_bound,
        "exact_integer_sum": bool(exact),
        "ring_bits": agg.ring_bits,
        "rounds": [asdict(r) for r in run.rounds],
        "privacy_log2": graph.privacy_log2 if np.isfinite(graph.privacy_log2) else None,
        "correctness_log2": graph.correctness_log2 if np.isfinite(graph.correctness_log2) else None,
    }


def mpc(n: int, length: int, dropout: float, parties: int = 3) -> dict[str, Any]:
    data = inputs_for(n, length)
    inputs = {i: data[i] for i in range(n)}
    began = time.perf_counter()
    run = run_mpc(
        inputs,
        parties=parties,
        threat=threat_for(dropout),
        quantiser=QUANTISER,
        dropouts=dropped(n, dropout),
    )
    wall = time.perf_counter() - began
    agg = run.aggregate
    true = data[list(agg.survivors)].sum(axis=0)
    return {
        "seconds": wall,
        "client_seconds_mean": run.client_seconds / n,
        "party_seconds": run.party_seconds,
        "bytes": run.bytes_total,
        "parties": parties,
        "threshold": run.config.threshold,
        "survivors": len(agg.survivors),
        "max_error_of_sum": float(np.max(np.abs(agg.total - true))),
        "error_bound": agg.error_bound,
    }


# -- Flower ---------------------------------------------------------------------------------

FLOWER_DRIVER = r'''
"""Flower's SecAgg+ (SecAggPlusWorkflow + secaggplus_mod, unchanged) over an in-memory Grid."""
import json, sys, time
import numpy as np
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.serde import message_from_proto, message_to_proto
from flwr.compat.common import recorddict_compat as compat
from flwr.server import ServerConfig
from flwr.server.client_manager import SimpleClientManager
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import FedAvg
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.serverapp.grid import Grid
from flwr.supercore.task_identity import TaskIdentity

TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1


class LocalGrid(Grid):
    """Delivers each message to the node's secaggplus_mod, through protobuf both ways."""

    def __init__(self, vectors, dropped):
        self.vectors, self.dropped = vectors, set(dropped)
        self.contexts = {
            n: Context(run_id=1, node_id=n, node_config={}, state=RecordDict(), run_config={})
            for n in vectors
        }
        self.client_s, self.bytes, self.stage = 0.0, 0, 0

    def set_run(self, run): pass

    @property
    def run(self): return None

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):
        return Message(
            content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id
        )

    def get_node_ids(self): return list(self.vectors)

    def push_messages(self, messages): raise NotImplementedError

    def pull_messages(self, message_ids): raise NotImplementedError

    def send_and_receive(self, messages, *, timeout=None):
        replies = []
        for msg in messages:
            node = msg.metadata.dst_node_id
            if self.stage >= 2 and node in self.dropped:  # silent from "collect masked vectors"
                continue
            proto = message_to_proto(msg)
            self.bytes += proto.ByteSize()
            began = time.perf_counter()
            reply = secaggplus_mod(message_from_proto(proto), self.contexts[node], self.fit)
            self.client_s += time.perf_counter() - began
            proto = message_to_proto(reply)
            self.bytes += proto.ByteSize()
            replies.append(message_from_proto(proto))
        self.stage += 1
        return replies

    def fit(self, msg, ctxt):
        node = msg.metadata.dst_node_id
        res = FitRes(Status(Code.OK, ""), ndarrays_to_parameters([self.vectors[node]]), 1, {})
        return Message(compat.fitres_to_recorddict(res, keep_input=True), reply_to=msg)


def main(spec):
    n, length = spec["clients"], spec["length"]
    data = np.random.default_rng(spec["seed"]).uniform(-spec["scale"], spec["scale"], (n, length))
    nodes = list(range(1, n + 1))
    vectors = {node: data[i].astype(np.float32) for i, node in enumerate(nodes)}
    gone = {nodes[i] for i in spec["dropped"]}
    grid = LocalGrid(vectors, gone)
    manager = SimpleClientManager()
    for node in nodes:
        manager.register(GridClientProxy(node, grid, 1))
    state = RecordDict()
    state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord({WorkflowKey.CURRENT_ROUND: 1})
    start = ndarrays_to_parameters([np.zeros(length, np.float32)])
    state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(start, True)
    context = LegacyContext(
        Context(run_id=1, node_id=0, node_config={}, state=state, run_config={}),
        config=ServerConfig(num_rounds=1),
        strategy=FedAvg(fraction_fit=1.0, min_fit_clients=n, min_available_clients=n),
        client_manager=manager,
    )
    workflow = SecAggPlusWorkflow(
        spec["num_shares"], spec["threshold"], clipping_range=spec["clip"],
        quantization_range=spec["quantization_range"], modulus_range=2**32, max_weight=1.0,
    )
    began = time.perf_counter()
    workflow(grid, context)
    wall = time.perf_counter() - began
    record = context.state.array_records[MAIN_PARAMS_RECORD]
    mean = parameters_to_ndarrays(compat.arrayrecord_to_parameters(record, keep_input=True))[0]
    survivors = [i for i, node in enumerate(nodes) if node not in gone]
    true = data[survivors].mean(axis=0)
    import flwr
    return {
        "seconds": wall, "client_seconds_mean": grid.client_s / n,
        "server_seconds": wall - grid.client_s, "bytes": grid.bytes,
        "survivors": len(survivors), "max_error_of_mean": float(np.max(np.abs(mean - true))),
        "flwr": flwr.__version__,
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
'''


def flower_python() -> tuple[Path | None, str]:
    """The Flower venv's python, made (once) with `python -m venv` and pip; or why not."""
    python = FLOWER_VENV / "bin" / "python"
    if python.exists():
        found = subprocess.run(
            [str(python), "-c", "import flwr; print(flwr.__version__)"],
            capture_output=True,
            text=True,
        )
        if found.returncode == 0 and found.stdout.strip() == FLOWER.split("==")[1]:
            return python, "reused"
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(FLOWER_VENV)], check=True, capture_output=True
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", FLOWER],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return None, f"installing {FLOWER} failed: {exc} {detail.decode(errors='replace')[-500:]}"
    return python, "installed"


def flower(
    python: Path, driver: Path, n: int, length: int, dropout: float, shares: int, threshold: int
) -> dict[str, Any]:
    spec = {
        "clients": n,
        "length": length,
        "seed": SEED,
        "scale": SCALE,
        "dropped": dropped(n, dropout),
        "num_shares": shares,
        "threshold": threshold,
        "clip": QUANTISER.clip,
        "quantization_range": 2**QUANTISER.bits,
    }
    began = time.perf_counter()
    out = subprocess.run(
        [str(python), str(driver), json.dumps(spec)], capture_output=True, text=True, timeout=1800
    )
    if out.returncode != 0:
        return {"error": out.stderr[-1500:]}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - began
    result["num_shares"], result["threshold"] = shares, threshold
    return result


# -- transport: signatures and the bus ------------------------------------------------------

TRANSPORT_ROWS = ((10, 10_000), (50, 10_000), (100, 100_000))
QUICK_TRANSPORT_ROWS = ((10, 10_000), (50, 10_000))


def _exact(run_integers: np.ndarray, data: np.ndarray, survivors: tuple[int, ...]) -> bool:
    return bool(
        np.array_equal(run_integers, sum(QUANTISER.quantise(data[c]).values for c in survivors))
    )


def in_process(n: int, length: int, signed: bool) -> dict[str, Any]:
    data = inputs_for(n, length)
    config, _ = make_config(range(n), length, threat=threat_for(0.0), quantiser=QUANTISER)
    began, cpu = time.perf_counter(), time.process_time()
    run = run_secagg({i: data[i] for i in range(n)}, config=config, signed=signed)
    wall = time.perf_counter() - began
    return {
        "seconds": wall,
        "cpu_seconds": time.process_time() - cpu,
        "bytes": run.bytes_total,
        "exact_integer_sum": _exact(run.aggregate.integers, data, run.aggregate.survivors),
    }


async def _on_bus(buses: list[Bus], n: int, length: int) -> BusRun:
    """Agents spread over `buses` (one each when there are n + 1), server on the last."""
    data = inputs_for(n, length)
    config, _ = make_config(range(n), length, threat=threat_for(0.0), quantiser=QUANTISER)
    people = Identities.generate(range(n))
    agents = [
        ClientAgent(
            buses[i % len(buses)], i, people.keys[i], people.envelopes, lambda _, i=i: data[i]
        )
        for i in range(n)
    ]
    for agent in agents:
        await agent.start()
    for bus in buses:
        await bus.flush()
    try:
        run = await aggregate_over_bus(buses[-1], config, people.server, people.directory)
    finally:
        for agent in agents:
            await agent.stop()
    run.exact = _exact(run.aggregate.integers, data, run.aggregate.survivors)  # type: ignore[attr-defined]
    return run


def over_memory(n: int, length: int) -> dict[str, Any]:
    async def session() -> BusRun:
        bus = MemoryBus()
        try:
            return await _on_bus([bus], n, length)
        finally:
            await bus.close()

    cpu = time.process_time()
    run = asyncio.run(session())
    return _bus_row(run, time.process_time() - cpu)


def over_nats(url: str, n: int, length: int) -> dict[str, Any]:
    async def session() -> BusRun:
        buses: list[Bus] = [
            await NatsBus.connect(url, name=f"secagg-bench-{i}") for i in range(n + 1)
        ]
        try:
            return await _on_bus(buses, n, length)
        finally:
            for bus in buses:
                await bus.close()

    cpu = time.process_time()
    run = asyncio.run(session())
    return _bus_row(run, time.process_time() - cpu)


def _bus_row(run: BusRun, cpu: float) -> dict[str, Any]:
    return {
        "seconds": run.seconds,
        "cpu_seconds": cpu,
        "bytes": run.bytes_sent + run.bytes_received,
        "exact_integer_sum": bool(run.exact),  # type: ignore[attr-defined]
        "refused": len(run.refused),
    }


def previous_row(previous: dict[str, Any], n: int, length: int) -> dict[str, Any]:
    """The previous full run's figures for (n, length) without dropout, if it had them."""
    for row in previous.get("grid", []):
        if (row["clients"], row["length"], row["dropout"]) == (n, length, 0.0):
            flower = row.get("flower") or {}
            return {
                "complete_seconds": row["complete"]["seconds"],
                "complete_bytes": row["complete"]["bytes"],
                "flower_secaggplus_seconds": flower.get("seconds"),
                "flower_num_shares": flower.get("num_shares"),
            }
    return {}


def transport(
    rows: tuple[tuple[int, int], ...], python: Path | None, driver: Path
) -> dict[str, Any]:
    old = RESULTS / "secagg.json"
    previous = json.loads(old.read_text()) if old.exists() else {}
    out: dict[str, Any] = {
        "previous_run": {
            "load_average_1_5_15_min": previous.get("load_average_1_5_15_min"),
            "total_wall_s": previous.get("total_wall_s"),
        },
        "rows": [],
    }
    binary = find_nats_server()
    server = NatsServer() if binary else None
    if server is not None:
        server.start()
    try:
        for n, length in rows:
            row: dict[str, Any] = {"clients": n, "length": length}
            row["unsigned"] = in_process(n, length, signed=False)
            row["signed"] = in_process(n, length, signed=True)
            row["memory_bus"] = over_memory(n, length)
            row["nats"] = over_nats(server.url, n, length) if server else None
            row["previous"] = previous_row(previous, n, length)
            if python is not None:
                config, _ = make_config(range(n), length, threat=threat_for(0.0))
                row["flower_all_shares"] = flower(
                    python, driver, n, length, 0.0, n, config.threshold
                )
            print(
                f"n={n} L={length}: unsigned {row['unsigned']['seconds']:.2f}s signed "
                f"{row['signed']['seconds']:.2f}s memory bus {row['memory_bus']['seconds']:.2f}s"
                + (f" nats {row['nats']['seconds']:.2f}s" if row["nats"] else ""),
                flush=True,
            )
            out["rows"].append(row)
    finally:
        if server is not None:
            server.stop()
    return out


def _wall_cpu(figures: dict[str, Any]) -> str:
    return f"{figures['seconds']:.2f} / {figures['cpu_seconds']:.2f}"


def transport_table(section: dict[str, Any]) -> list[str]:
    out = [
        "### Signed envelopes and the agents' bus (complete graph, no dropout)",
        "",
        "Seconds as wall time / CPU time of this process (all agents and the server; NATS: "
        "without the nats-server process). On a loaded machine the CPU time is the figure "
        "to compare.",
        "",
        "Unsigned = the protocol in one process as before every message was signed; signed ="
        " every message in an Ed25519 envelope (now the default); memory bus / NATS = "
        "`ClientAgent`s and the server over the bus (NATS: a real nats-server, one "
        "connection per agent). Previous = the last full run's complete graph and Flower "
        "SecAgg+ (k + 1 shares) figures for the row; Flower (n shares) = measured in this "
        "run.",
        "",
        "| n | L | unsigned | signed | memory bus | NATS | bytes unsigned → NATS "
        "| previous ours | previous Flower | Flower (n shares) now | exact |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in section["rows"]:
        p, nats = row["previous"], row["nats"] or {}
        flower_now = (row.get("flower_all_shares") or {}).get("seconds")
        flower_then = p.get("flower_secaggplus_seconds")
        exact = all(
            r["exact_integer_sum"]
            for r in (row["unsigned"], row["signed"], row["memory_bus"], nats)
            if r
        )
        cells = [
            str(row["clients"]),
            f"{row['length']:,}",
            _wall_cpu(row["unsigned"]),
            _wall_cpu(row["signed"]),
            _wall_cpu(row["memory_bus"]),
            _wall_cpu(nats) if nats else "–",
            f"{fmt_bytes(row['unsigned']['bytes'])} → "
            + (fmt_bytes(nats["bytes"]) if nats else "–"),
            f"{p['complete_seconds']:.2f}" if p else "–",
            f"{flower_then:.2f}" if flower_then else "–",
            f"{flower_now:.2f}" if flower_now else "–",
            "yes" if exact else "NO",
        ]
        out.append("| " + " | ".join(cells) + " |")
    load = section.get("load_average_1_5_15_min")
    before = section["previous_run"].get("load_average_1_5_15_min")
    out += [
        "",
        f"Load average during this section: {load}; during the previous full run: {before} "
        "(the machine is shared: compare columns of one row, measured together).",
    ]
    return out


# -- robust and federated -----------------------------------------------------------------


def robust(n: int, length: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(SEED)
    inputs = {i: rng.normal(0, 0.05, length) for i in range(n)}
    rows = []
    for name, options in (
        ("mean (clamped)", RobustOptions()),
        ("norm bound", RobustOptions(norm_bound=10.0)),
        ("trimmed mean β=0.2", RobustOptions(trim=0.2)),
    ):
        result = robust_mpc(inputs, options, quantiser=QUANTISER)
        stacked = np.stack([inputs[c] for c in result.clients])
        reference = trimmed_mean(stacked, options.trim) if options.trim else stacked.mean(axis=0)
        rows.append(
            {
                "clients": n,
                "length": length,
                "rule": name,
                "seconds": result.seconds,
                "bytes_parties": result.bytes_parties,
                "bytes_dealer": result.bytes_dealer,
                "rounds": result.rounds,
                "max_error_vs_clear": float(np.max(np.abs(result.mean - reference))),
            }
        )
    return rows


def federated(sizes: Sizes) -> dict[str, Any]:
    torch.set_num_threads(2)
    scenario = load_scenario(SCENARIO)
    telemetry, features = {}, ()
    for agent in range(sizes.agents):
        series = normal_series(scenario, sizes.seconds, 9100 + agent)
        telemetry[agent], features = series.values, series.features
    tests = [
        episode_series(scenario, ATTACK_CONDITIONS, seed, seconds=900) for seed in sizes.test_seeds
    ]
    labelled = [(t.values, t.labels) for t in tests]
    plan = FederatedPlan(rounds=sizes.rounds, local_epochs=sizes.local_epochs, seed=scenario.seed)
    began = time.perf_counter()
    fed = train_federated(
        telemetry, features, secagg_aggregator(ThreatModel(corrupt=0.0, dropout=0.2)), plan
    )
    fed_s = time.perf_counter() - began
    began = time.perf_counter()
    central = central_detector(telemetry, features, plan)
    central_s = time.perf_counter() - began
    return {
        "agents": sizes.agents,
        "steps_per_agent": int(sizes.seconds),
        "rounds": plan.rounds,
        "local_epochs": plan.local_epochs,
        "test_seeds": list(sizes.test_seeds),
        "federated": {
            **window_f1(fed.detector, labelled),
            "seconds": fed_s,
            "aggregation_seconds": sum(r.aggregate_seconds for r in fed.rounds),
            "bytes": fed.bytes,
            "parameters": int(sum(p.numel() for p in fed.detector.model.parameters())),
            "threshold": fed.detector.static.value,
        },
        "central": {
            **window_f1(central, labelled),
            "seconds": central_s,
            "threshold": central.static.value,
        },
    }


# -- report -------------------------------------------------------------------------------


def fmt_bytes(value: float) -> str:
    return f"{value / 1e6:.1f} MB" if value >= 1e5 else f"{value / 1e3:.0f} kB"


def tables(result: dict[str, Any]) -> list[str]:
    out = [
        "### Aggregation: time (s, all clients and the server in one process) and bytes",
        "",
        "Complete = Bonawitz et al. (every client shares with all); SecAgg+ = sparse graph, "
        "k and t from the threat model; Flower = flwr SecAgg+ with the same k + 1 shares "
        "and t; ratio = Flower / ours (SecAgg+).",
        "",
        "| n | L | dropout | complete (t) | SecAgg+ (k, t) | MPC 3 parties | Flower SecAgg+ "
        "| Flower / ours | bytes complete | bytes SecAgg+ | bytes MPC | bytes Flower | exact |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["grid"]:
        c, s, m, f = row["complete"], row["sparse"], row["mpc"], row.get("flower") or {}
        fl = f.get("seconds")
        cells = [
            str(row["clients"]),
            f"{row['length']:,}",
            f"{row['dropout']:.0%}",
            f"{c['seconds']:.2f} ({c['threshold']})",
            f"{s['seconds']:.2f} ({s['degree']}, {s['threshold']})",
            f"{m['seconds']:.2f}",
            f"{fl:.2f}" if fl else "–",
            f"{fl / s['seconds']:.1f}×" if fl else "–",
            fmt_bytes(c["bytes"]),
            fmt_bytes(s["bytes"]),
            fmt_bytes(m["bytes"]),
            fmt_bytes(f["bytes"]) if f.get("bytes") else "–",
            "yes" if c["exact_integer_sum"] and s["exact_integer_sum"] else "NO",
        ]
        out.append("| " + " | ".join(cells) + " |")
    head = result.get("headline")
    if head:
        out += ["", "### Headline: 100 clients × 10^5 values, 10 % dropout", ""]
        out += [
            "| variant | seconds | per client (s) | server (s) | bytes | ratio Flower / ours |",
            "|---|---|---|---|---|---|",
        ]
        for name, r in head.items():
            if r and "seconds" in r:
                server = r.get("server_seconds", r.get("party_seconds", float("nan")))
                ratio = r.get("ratio_flower_over_ours")
                versus = f"{ratio:.1f}× (vs {r['compared_with']})" if ratio else "–"
                out.append(
                    f"| {name} | {r['seconds']:.2f} | {r['client_seconds_mean']:.3f} "
                    f"| {server:.2f} | {fmt_bytes(r['bytes'])} | {versus} |"
                )
        out += ["", result["verdict"]]
    if result.get("flower_status"):
        out += ["", f"Flower: {result['flower_status']}"]
    out += ["", "### Robust aggregation under MPC (2 parties + dealer)", ""]
    out += [
        "| n | L | rule | seconds | party bytes | dealer bytes | rounds | max error vs clear |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["robust"]:
        out.append(
            f"| {r['clients']} | {r['length']:,} | {r['rule']} | {r['seconds']:.2f} "
            f"| {fmt_bytes(r['bytes_parties'])} "
            f"| {fmt_bytes(r['bytes_dealer'])} | {r['rounds']} | {r['max_error_vs_clear']:.1e} |"
        )
    fed = result["federated"]
    out += ["", "### Federated LSTM autoencoder vs central training (window F1, attack runs)", ""]
    out += [
        "| model | precision | recall | F1 | seconds | threshold |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("federated", "central"):
        r = fed[name]
        out.append(
            f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} "
            f"| {r['seconds']:.1f} | {r['threshold']:.3f} |"
        )
    out += [
        "",
        f"{fed['agents']} agents × {fed['steps_per_agent']} s of their own normal telemetry; "
        f"{fed['rounds']} rounds × {fed['local_epochs']} local epochs (central: "
        f"{fed['rounds'] * fed['local_epochs']} epochs on the pooled windows); "
        f"{fed['federated']['parameters']} parameters; secure aggregation moved "
        f"{fmt_bytes(fed['federated']['bytes'])} in "
        f"{fed['federated']['aggregation_seconds']:.2f} s.",
    ]
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    length = max(result["sizes"]["lengths"])
    dropout = 0.1 if 0.1 in result["sizes"]["dropouts"] else result["sizes"]["dropouts"][-1]
    rows = [r for r in result["grid"] if r["length"] == length and r["dropout"] == dropout]
    ns = [r["clients"] for r in rows]
    for key, label in (
        ("complete", "secmas complete"),
        ("sparse", "secmas SecAgg+"),
        ("mpc", "secmas MPC (3 parties)"),
        ("flower", "Flower SecAgg+"),
    ):
        points = [
            (r["clients"], r[key]["seconds"]) for r in rows if r.get(key) and "seconds" in r[key]
        ]
        if points:
            axes[0].plot(*zip(*points, strict=True), "o-", label=label)
            axes[1].plot(
                [p[0] for p in points],
                [
                    r[key]["bytes"] / r["clients"] / 1e6
                    for r in rows
                    if r.get(key) and "bytes" in r[key]
                ],
                "o-",
                label=label,
            )
    axes[0].axhline(TARGET_S, color="grey", ls="--", lw=1, label="target 10 s")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("clients")
    axes[0].set_ylabel("seconds (whole session, one process)")
    axes[0].set_title(f"L = {length:,}, dropout {dropout:.0%}")
    axes[0].set_xticks(ns)
    axes[0].legend()
    axes[1].set_xlabel("clients")
    axes[1].set_ylabel("MB per client (both ways)")
    axes[1].set_title("Traffic")
    axes[1].set_xticks(ns)
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, no complete-graph Flower run"
    )
    parser.add_argument("--no-flower", action="store_true", help="skip Flower (no install)")
    parser.add_argument(
        "--transport",
        action="store_true",
        help="only section (7), signatures and bus; updates the results in place",
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    began, load_before = time.perf_counter(), os.getloadavg()

    python, status = (None, "skipped (--no-flower)") if args.no_flower else flower_python()
    driver = Path(tempfile.mkdtemp(prefix="secmas-flwr-")) / "flower_secaggplus.py"
    driver.write_text(FLOWER_DRIVER)
    if args.transport:
        section = transport(QUICK_TRANSPORT_ROWS if args.quick else TRANSPORT_ROWS, python, driver)
        section["load_average_1_5_15_min"] = {"before": load_before, "after": os.getloadavg()}
        section["wall_s"] = time.perf_counter() - began
        section["flower_status"] = f"{FLOWER} {status}" if python is not None else status
        write_results({**load_previous(), "transport": section}, args.quick)
        return
    grid = []
    for n in sizes.clients:
        for length in sizes.lengths:
            for dropout in sizes.dropouts:
                row: dict[str, Any] = {"clients": n, "length": length, "dropout": dropout}
                row["complete"] = ours(n, length, dropout, sparse=False)
                row["sparse"] = ours(n, length, dropout, sparse=True)
                row["mpc"] = mpc(n, length, dropout)
                if python is not None:
                    s = row["sparse"]
                    row["flower"] = flower(
                        python, driver, n, length, dropout, s["degree"] + 1, s["threshold"]
                    )
                    if "seconds" in row["flower"]:
                        row["ratio_flower_over_ours"] = row["flower"]["seconds"] / s["seconds"]
                print(
                    f"n={n} L={length} drop={dropout:.0%}: "
                    f"complete {row['complete']['seconds']:.2f}s "
                    f"sparse {row['sparse']['seconds']:.2f}s mpc {row['mpc']['seconds']:.2f}s "
                    f"flower {row.get('flower', {}).get('seconds', float('nan')):.2f}s",
                    flush=True,
                )
                grid.append(row)
    result: dict[str, Any] = {
        "benchmark": "secagg",
        "what": (
            "secure aggregation (004_… Section 5): centralised (complete and SecAgg+), MPC, "
            "robust, federated; beside Flower's SecAgg+"
        ),
        "quick": args.quick,
        "sizes": asdict(sizes),
        "threat_model": {
            "corrupt": CORRUPT,
            "dropout": "max(row, 0.1)",
            "security": 40,
            "correctness": 20,
        },
        "quantiser": asdict(QUANTISER),
        "machine": describe(PACKAGES),
        "flower_status": f"{FLOWER} {status}" if python is not None else status,
        "grid": grid,
    }
    head = next(
        (r for r in grid if (r["clients"], r["length"], r["dropout"]) == (100, 100_000, 0.1)), None
    )
    if head is not None:
        result["headline"] = {
            "secmas complete": head["complete"],
            "secmas SecAgg+": head["sparse"],
            "secmas MPC": head["mpc"],
        }
        if head.get("flower"):
            result["headline"]["Flower SecAgg+"] = head["flower"]
        if python is not None and sizes.flower_complete:
            result["headline"]["Flower, all n shares"] = flower(
                python, driver, 100, 100_000, 0.1, 100, head["complete"]["threshold"]
            )
        for theirs, mine in HEADLINE_PAIRS.items():
            f = result["headline"].get(theirs) or {}
            if "seconds" in f:
                f["ratio_flower_over_ours"] = f["seconds"] / result["headline"][mine]["seconds"]
                f["compared_with"] = mine
        best = min(head["sparse"]["seconds"], head["complete"]["seconds"])
        fl = (head.get("flower") or {}).get("seconds")
        result["verdict"] = (
            f"Target (< {TARGET_S:.0f} s, not slower than Flower's SecAgg+): "
            f"SecAgg+ {head['sparse']['seconds']:.2f} s, "
            f"complete graph {head['complete']['seconds']:.2f} s"
            + (
                f"; Flower SecAgg+ {fl:.2f} s ({fl / head['sparse']['seconds']:.1f}× ours)"
                if fl
                else ""
            )
            + (
                ": **met**"
                if best < TARGET_S and (fl is None or head["sparse"]["seconds"] <= fl)
                else ": **not met**"
            )
        )
    result["robust"] = [r for n in sizes.robust_clients for r in robust(n, sizes.robust_length)]
    result["federated"] = federated(sizes)
    result["total_wall_s"] = time.perf_counter() - began
    result["load_average_1_5_15_min"] = {"before": load_before, "after": os.getloadavg()}
    if "transport" in load_previous():
        result["transport"] = load_previous()["transport"]
    write_results(result, args.quick)


def load_previous() -> dict[str, Any]:
    """The results the last run left (empty when there are none)."""
    path = RESULTS / "secagg.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write_results(result: dict[str, Any], quick: bool) -> None:
    text = "\n".join(
        [
            "## Secure aggregation benchmark (`benchmarks/bench_secagg.py`"
            + (" --quick" if quick else "")
            + ")",
            "",
            f"Total wall time {result['total_wall_s']:.0f} s on "
            f"{result['machine']['cpus_usable']} CPUs "
            f"({result['machine']['cpu_model']}).",
            "",
            *tables(result),
            *(["", *transport_table(result["transport"])] if "transport" in result else []),
            "",
        ]
    )
    print(text)
    RESULTS.mkdir(exist_ok=True)
    plot(result, RESULTS / "secagg.png")
    (RESULTS / "secagg.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    (RESULTS / "secagg.md").write_text(text)


if __name__ == "__main__":
    main()
