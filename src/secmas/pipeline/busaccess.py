"""How the clients of a multi-process run reach the NATS bus, and what each may do there.

`BusAccess` is what every client of the run (the MLFO and each agent) needs to connect:
the servers (`--bus`, credentials kept out of sight), the CA their certificates chain to,
and the folder holding one nkey seed per client (`<client>.nk`, mode 0600).
`agent_permissions` is the subject policy the server enforces for an agent, drawn from
the subjects the code uses (below); the MLFO, which runs the pipeline, is unrestricted.

An agent `A` of pipeline `P` may publish

* as itself only: `secmas.ready.P.A`, `secmas.heartbeat.P.A`, `nfva.P.goals.A` (the goal
  board);
* requests to the MLFO: `secmas.join.P`, `secmas.controller.P`, `secmas.journal.P`, and
  to the step loops beside it: `secmas.{ticked,goals,decline}.P`, and its answers in the
  run's secure sums, `secmas.sum.P.*.server` (`secmas.pipeline.work`);
* to its peers: `nfva.P.agent.*` (auction messages), `nfva.P.floor`, `secmas.links.P`,
  `nfva.P.gone` (the goal board's notices) and, as a verifier, challenges on `secmas.attest.P.*`;
* answers on reply inboxes: `_INBOX.>` (the bus's and the secure channel's) and
  `secmas.reply.P.>` (the sealed trust control plane's);

and subscribe to what is addressed to it (`secmas.{welcome,rekey,stop,attest,verify}.P.A`,
`nfva.P.agent.A`, the step loops' `secmas.agentctl.P.A`, the run's work
`secmas.work.P.A` and `secmas.sum.P.*.A`), to the MLFO's broadcasts
(`secmas.start.P`, `secmas.tick.P`, `secmas.admit.P`), the
group subjects `nfva.P.floor`, `secmas.links.P`, `nfva.P.gone`, the goal boards of the
agents it watches (`nfva.P.goals.*`) and the reply inboxes. So it can neither
speak for the MLFO (start, tick, welcome, rekey, stop, verify requests), nor announce or
heartbeat as another agent, nor read or answer what is addressed to another agent.
Residual: reply inboxes are random names, not per client, so an agent may subscribe to
any of them; what travels there is sealed for the requester (secure channel, control
plane). A new subject in the code must be added here, or agents are refused it (the
refusal is logged by the bus and counted in `NatsBus.denied`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from secmas.agents.board import board_subject, notice_subject
from secmas.agents.journal import journal_subject
from secmas.agents.linksync import links_subject
from secmas.agents.nfva.subjects import SPACE, inbox
from secmas.network.dataplane.controller import controller_subject
from secmas.pipeline.agent_process import (
    CONNECT_TIMEOUT_S,
    ready_subject,
    start_subject,
    tick_subject,
)
from secmas.pipeline.agentcontrol import (
    admit_subject,
    control_subject,
    decline_subject,
    goals_subject,
    ticked_subject,
)
from secmas.pipeline.membership import join_subject, rekey_subject, stop_subject, welcome_subject
from secmas.pipeline.work import sum_prefix, work_subject
from secmas.transport.address import BusAddress
from secmas.transport.credentials import (
    SEED_SUFFIX,
    NatsUser,
    Permissions,
    issue_users,
    seed_file_of,
)
from secmas.transport.nats import NatsBus
from secmas.transport.tls import CA_FILE, KEY_SUFFIX, ServerCertificate, issue_run_pki
from secmas.trust.chain import attest_subject
from secmas.trust.control import MLFO
from secmas.trust.liveness import heartbeat_subject
from secmas.trust.verification import verify_subject

REPLY_INBOXES = "_INBOX.>"
SERVER = "nats"
BUS_FOLDER = "bus"
"""The run folder's subfolder with the bus's certificates and keys."""


def agent_permissions(pipeline: str, agent: str) -> Permissions:
    """What agent `agent` of `pipeline` may publish and subscribe to (module docstring)."""
    space = f"{SPACE}.{pipeline}"
    floor = f"{space}.floor"  # as the NFV-A participants of the pipeline name it
    group = (floor, links_subject(pipeline), notice_subject(space))
    replies = (REPLY_INBOXES, f"secmas.reply.{pipeline}.>")
    return Permissions(
        publish=(
            ready_subject(pipeline, agent),
            heartbeat_subject(pipeline, agent),
            board_subject(agent, space),
            join_subject(pipeline),
            controller_subject(pipeline),
            journal_subject(pipeline),
            ticked_subject(pipeline),
            goals_subject(pipeline),
            decline_subject(pipeline),
            f"{sum_prefix(pipeline)}.*.server",
            inbox("*", space),
            attest_subject(pipeline, "*"),
            *group,
            *replies,
        ),
        subscribe=(
            welcome_subject(pipeline, agent),
            rekey_subject(pipeline, agent),
            stop_subject(pipeline, agent),
            attest_subject(pipeline, agent),
            verify_subject(pipeline, agent),
            control_subject(pipeline, agent),
            work_subject(pipeline, agent),
            f"{sum_prefix(pipeline)}.*.{agent}",
            inbox(agent, space),
            start_subject(pipeline),
            tick_subject(pipeline),
            admit_subject(pipeline),
            board_subject("*", space),
            *group,
            *replies,
        ),
    )


@dataclass(frozen=True)
class BusAccess:
    """The bus of a run as its clients reach it (module docstring)."""

    address: BusAddress
    ca_file: Path | None = None
    keys: Path | None = None
    """Folder with one nkey seed per client, `<client>.nk`; None: no nkeys."""

    def nkey(self, client: str) -> Path | None:
        """Where `client`'s seed is, if the run uses nkeys."""
        return None if self.keys is None else seed_file_of(self.keys, client)

    async def connect(self, client: str, name: str) -> NatsBus:
        """`client`'s own connection (its nkey, the run's CA)."""
        return await NatsBus.connect(
            self.address,
            ca_file=self.ca_file,
            nkey_file=self.nkey(client),
            name=name,
            connect_timeout=CONNECT_TIMEOUT_S,
        )


@dataclass(frozen=True)
class RunBus:
    """What a run that starts its own server makes: a certificate, the clients' users."""

    access: BusAccess
    certificate: ServerCertificate
    users: tuple[NatsUser, ...]


def issue_pipeline_users(folder: Path, pipeline: str, agents: list[str]) -> tuple[NatsUser, ...]:
    """An nkey per client of `pipeline`, seeds in `folder` (owner-only): the MLFO
    unrestricted, each agent held to `agent_permissions`."""
    issued = issue_users(folder, [MLFO, *agents])
    held = [
        NatsUser(a, issued[a].nkey, agent_permissions(pipeline, a), issued[a].seed_file)
        for a in agents
    ]
    return (issued[MLFO], *held)


def issue_run_bus(
    folder: Path,
    pipeline: str,
    agents: list[str],
    hosts: Sequence[str] = ("127.0.0.1", "localhost"),
) -> RunBus:
    """A fresh CA and a server certificate for `hosts` and the pipeline's users
    (`issue_pipeline_users`), all under `folder`; the access's address is filled in once
    the server has a port."""
    certificate = issue_run_pki(folder, [SERVER], hosts)[SERVER]
    users = issue_pipeline_users(folder, pipeline, agents)
    return RunBus(BusAccess(BusAddress(()), folder / CA_FILE, folder), certificate, users)


def discard_secrets(folder: Path) -> None:
    """Remove the run's private keys and seeds from `folder`; the certificates stay."""
    for secret in (*folder.glob(f"*{KEY_SUFFIX}"), *folder.glob(f"*{SEED_SUFFIX}")):
        secret.unlink(missing_ok=True)
