"""Agents as the pods of `secmas deploy kubernetes --podman` manifests (`placement=Pods(DIR)`).

The folder is the deployment: its NATS pod is the run's bus, its ledger pod (or the
external node its agents use) the run's ledger, and each agent runs its pod's command
line from the scenario written into it. So a run on pods names no bus, ledger or host
list of its own, and its scenario must be the deployed one: the same pipeline, PoPs and
trust layer (`check_pods`), checked before any work. The MLFO's and SECaaS's keys and
the token of a development ledger pod are the deployment's own (`pods_ledger`). The run
itself is the multi-process workflow with the `secmas.deploy.kubeplay` IML driver,
between `up` and `down` (`operate_on_pods`), which removes the pods, secrets, volumes and
network even when the run fails.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from secmas.api.errors import RunInputError
from secmas.interrupt import uninterrupted

if TYPE_CHECKING:
    from secmas.deploy.kubeplay import PodAgents, PodDeployment
    from secmas.ledger.keyfile import LedgerAccess
    from secmas.pipeline.busaccess import BusAccess
    from secmas.scenario.model import Scenario

logger = logging.getLogger(__name__)
T = TypeVar("T")


def load_pods(folder: Path, *, ledger: str | None) -> PodDeployment:
    """The deployment in `folder`; RunInputError naming a ledger given beside it (the
    deployment decides what its agents reach), or a folder that cannot run here."""
    from secmas.deploy.kubeplay import KubePlayError, PodDeployment
    from secmas.deploy.podman import PODMAN_MISSING, available

    if ledger is not None:
        raise RunInputError(
            ": the deployment decides where the agents are and what they reach; drop --ledger",
            option="pods",
        )
    if not available():
        raise RunInputError(f": {PODMAN_MISSING}", option="pods")
    if os.geteuid() != 0:
        raise RunInputError(
            ": as root (the pods' network and published ports need rootful podman)",
            option="pods",
        )
    try:
        return PodDeployment.load(folder)
    except KubePlayError as exc:
        raise RunInputError(str(exc), option="pods") from None


def _loaded(pods: Path | PodDeployment) -> PodDeployment:
    from secmas.deploy.kubeplay import PodDeployment

    assert isinstance(pods, PodDeployment), "a planned run holds the loaded deployment"
    return pods


def pods_ledger(
    pods: Path | PodDeployment, mlfo_key: Path | None, secaas_key: Path | None
) -> LedgerAccess | None:
    """The MLFO's and SECaaS's keys and the token of the deployment's development ledger,
    which funds those keys alone (None: its agents use an external node, or none);
    RunInputError naming key files given beside it, or a deployment without them."""
    from secmas.deploy.kubeplay import KubePlayError

    deployment = _loaded(pods)
    try:
        access = deployment.ledger_access()
    except KubePlayError as exc:
        raise RunInputError(str(exc), option="pods") from None
    if access is None:
        return None
    for option, path in (("mlfo_key", mlfo_key), ("secaas_key", secaas_key)):
        if path is not None:
            raise RunInputError(
                ": the deployment's ledger funds the keys it drew (its Secret ledger-access)",
                option=option,
            )
    return access


def check_pods(scenario: Scenario, pods: Path | PodDeployment) -> None:
    """RunInputError unless `scenario` is the one the pods were written for (module
    docstring)."""
    from secmas.deploy.naming import dns_label
    from secmas.pipeline.mlfo import pipeline_name

    deployment = _loaded(pods)
    problems = []
    if scenario.network.engine != "simulator":
        problems.append("the pods run the simulator's agents; drop --dataplane emulated")
    if deployment.pipeline != dns_label(pipeline_name(scenario.id), "id"):
        problems.append(f"written for pipeline {deployment.pipeline!r}, not {scenario.id!r}")
    deployed = sorted(deployment.agent_pods())
    if deployed != sorted(p.id for p in scenario.pops):
        problems.append(f"its agents are for PoPs {', '.join(deployed)}")
    if deployment.trusted != scenario.security.enabled:
        state = "on" if deployment.trusted else "off"
        problems.append(f"written with the trust layer {state}, the run has it the other way")
    if problems:
        raise RunInputError(*(f"{deployment.folder}: {p}" for p in problems), option="pods")


async def operate_on_pods(
    pods: Path | PodDeployment,
    workdir: Path,
    operate: Callable[[BusAccess, PodAgents], Awaitable[T]],
) -> T:
    """`operate(bus, driver)` between the deployment's `up` and `down`, the agents' logs
    kept in `workdir`: the MLFO's bus credentials in a private folder removed afterwards;
    what `down` could not remove is logged (a failed run still says why it failed)."""
    from secmas.deploy.kubeplay import PodAgents

    deployment = _loaded(pods)
    await asyncio.to_thread(deployment.check_clean)
    try:
        await uninterrupted(deployment.up)  # a stop meanwhile: `down` after, not beside
        with tempfile.TemporaryDirectory(prefix="secmas-mlfo-") as private:
            bus = deployment.mlfo_bus(Path(private))
            return await operate(bus, PodAgents(deployment, workdir))
    finally:
        for problem in await asyncio.to_thread(deployment.down):
            logger.warning("podman kube down: %s", problem)
