"""Agents outside this process, on either data-plane engine: the one entry the
application layer calls for a run whose agents are processes (on this machine, in pods,
on hosts) or run inside their PoPs.

The simulator steps on a scaled wall clock here (`secmas.pipeline.simulated`), with the
MLFO's part in `secmas.pipeline.processes`; the emulated engine runs in real time with the agents in
their PoPs' namespaces, `secmas.pipeline.emulated_processes`. Both run the same driver
(`run_driver`); this module only picks the engine, so neither of the two imports the
other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from secmas.ledger.keyfile import LEDGER_OWN, LedgerKeys
from secmas.pipeline.bringup import BringUp
from secmas.pipeline.busaccess import BusAccess
from secmas.pipeline.emulated_processes import PopAgents, operate_emulated_processes
from secmas.pipeline.errors import RunError, check_runnable
from secmas.pipeline.images import secmas_image
from secmas.pipeline.iml import IMLDriver
from secmas.pipeline.operate import OperateResult
from secmas.pipeline.orchestrator import ImageWrap
from secmas.pipeline.processes import (
    Kill,
    RunOptions,
    RunServers,
    run_driver,
)
from secmas.pipeline.runloop import Progress, StepLoop
from secmas.pipeline.simulated import Simulator
from secmas.pipeline.work import AgentWork
from secmas.pipeline.workflow import Told
from secmas.scenario.model import Scenario


async def operate_processes(
    scenario: Scenario,
    scenario_file: Path,
    *,
    workdir: Path,
    bus: BusAccess | None = None,
    speed: float = 10.0,
    progress: Progress | None = None,
    steps: Told | None = None,
    kill: Mapping[str, Kill] | None = None,
    tamper: Mapping[str, float] | None = None,
    iml: IMLDriver | None = None,
    loops: Sequence[StepLoop] = (),
    work: Sequence[AgentWork] = (),
    wrap_image: ImageWrap = secmas_image,
    pop_agents: PopAgents | None = None,
    arrival: BringUp | None = None,
    ledger_keys: LedgerKeys = LEDGER_OWN,
    ledger_token: str | None = None,
) -> OperateResult:
    """Run `scenario` with one `secmas agent` process per PoP (see the module docstring);
    `work` is given to the attested agents after bring-up (`secmas.pipeline.work`), whose
    processes serve their part of it (`secmas agent` with the work's seat services).
    `bus`: a running NATS server or cluster; without it the run starts its own with TLS
    (a CA of its own) and an nkey per client (`secmas.pipeline.busaccess`), and removes
    the keys when it ends. `kill` maps PoPs to the simulated second their process is
    killed, or the cue for it (resilience tests: `KillCue`), `tamper` to the second their
    code is patched in memory (infection demonstrations), `wrap_image` how SECaaS wraps
    what the agents run (`Driver.wrap_image`). On the emulated engine the agents run in
    their PoPs' namespaces, in real time (`secmas.pipeline.emulated_processes`), started as
    `pop_agents` says (default: processes). `arrival`: how long the agents may take to
    join and be ready (default: sized from their number, `secmas.pipeline.bringup`).
    `ledger_keys`: the MLFO's and SECaaS's accounts on a JSON-RPC ledger (default the
    node's own), `ledger_token` its bearer token (default `SECMAS_LEDGER_TOKEN`'s)."""
    check_runnable(scenario)
    options = RunOptions(progress, steps, kill, tamper, loops, work, arrival or BringUp())
    if scenario.network.engine == "emulated":
        if bus is not None or iml is not None:
            raise RunError(
                "on the emulated engine the run serves its own bus on the emulated network "
                "and starts the agents in their PoPs: name no bus and no IML driver"
            )
        return await operate_emulated_processes(
            scenario, scenario_file, options, workdir=workdir, agents=pop_agents
        )
    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    servers = RunServers(workdir, scenario)
    try:
        access = await servers.local(bus)
        if ledger_keys.given:
            access = replace(access, ledger_keys=ledger_keys.hex())
        if ledger_token is not None:
            access = replace(access, ledger_token=ledger_token)
        network = Simulator(scenario, speed)
        driver = await run_driver(
            scenario,
            scenario_file,
            access,
            workdir,
            network,
            options,
            iml=iml,
            wrap_image=wrap_image,
        )
        # before the servers stop: the loops' reports may still write to the ledger (the
        # audit's last anchor)
        return driver.result(network.telemetry(), network.plane.now, started, loops)
    finally:
        await asyncio.to_thread(servers.stop)
