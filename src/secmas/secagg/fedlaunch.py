"""Launch federated training with every agent its own OS process over a real NATS server.

`train_among_processes` starts a `nats-server` (unless given a URL), one
`python -m secmas.secagg.fedagent` per PoP of the scenario, each handed its one-time
enrolment credential in a file of its own (`SECMAS_ENROLMENT`, as the IML driver hands
the pipeline's agents theirs), enrols them (`BusFederation`), runs FedAvg
(`run_federated`) with every exchange a secure sum over their secure channel, scores the
global model after every round when asked (window F1 on held-out labelled runs), stops
the agents and returns what each process said. Processes and the server are ended whatever
happens.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from secmas.analytics.autoencoder import Detector
from secmas.network.dataplane.cnf import METRICS
from secmas.scenario.loader import load_scenario
from secmas.secagg.fedbus import BusFederation, member_name
from secmas.secagg.federated import FederatedResult, RoundLog, run_federated
from secmas.secagg.neighbours import ThreatModel
from secmas.secagg.tasks import FederatedPlan
from secmas.transport.broker import NatsServer
from secmas.trust.enrolment import CREDENTIAL_ENV

__all__ = ["ProcessRun", "train_among_processes"]


@dataclass
class ProcessRun:
    """Federated training among agent processes: the result (per-round F1 in its
    rounds), the agents' exit codes and output, and what the coordinator refused."""

    result: FederatedResult
    exit_codes: list[int]
    outputs: list[str]
    refused: list[str]


@contextlib.contextmanager
def _broker(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    with NatsServer() as server:
        yield server.url


def _launch(
    url: str, scenario: Path, index: int, seconds: float, credential: Path
) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        *("-m", "secmas.secagg.fedagent", "--bus", url, "--index", str(index)),
        *("--scenario", str(scenario), "--seconds", f"{seconds:g}"),
    ]
    environment = {**os.environ, CREDENTIAL_ENV: str(credential)}
    return subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _end(processes: list[subprocess.Popen[str]], wait: float) -> tuple[list[int], list[str]]:
    """Each process's exit code and output, killing any still running after `wait` s."""
    codes, outputs = [], []
    for process in processes:
        try:
            out, _ = process.communicate(timeout=wait)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        codes.append(process.returncode)
        outputs.append(out or "")
    return codes, outputs


def end_processes(processes: list[subprocess.Popen[str]]) -> None:
    """End the processes still running (a failed run), and reap them."""
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def train_among_processes(
    path: Path,
    plan: FederatedPlan,
    seconds: float,
    *,
    threat: ThreatModel | None = None,
    evaluate: Callable[[Detector], float] | None = None,
    progress: Callable[[RoundLog], None] | None = None,
    url: str | None = None,
    timeout: float = 300.0,
) -> ProcessRun:
    """FedAvg among one agent process per PoP of the scenario at `path`, each on
    `seconds` of its own telemetry; `evaluate` scores the global model after every round
    (see `run_federated`). Raises EnrolmentError, the secure sums' SecAggError,
    FileNotFoundError without a nats-server."""
    scenario = load_scenario(path)
    agents = len(scenario.pops)
    if agents < 2:
        raise ValueError(f"scenario {scenario.id!r}: federated training needs two PoPs or more")
    processes: list[subprocess.Popen[str]] = []
    with (
        _broker(url) as bus,
        tempfile.TemporaryDirectory(prefix="secmas-fedavg-") as folder,
        BusFederation(bus, agents, len(METRICS), threat=threat) as federation,
    ):
        try:
            for index in range(agents):
                handed = Path(folder) / f"{index}.credential"
                federation.credentials[member_name(index)].write(handed)
                processes.append(_launch(bus, path, index, seconds, handed))
            federation.enrol(timeout)
            result = run_federated(federation, METRICS, plan, progress, evaluate)
            federation.stop(plan)
            codes, outputs = _end(processes, timeout)
        finally:
            end_processes(processes)
    return ProcessRun(result, codes, outputs, federation.refused)
