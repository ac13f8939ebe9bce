"""One agent of federated training as its own OS process:
`python -m secmas.secagg.fedagent --bus nats://… --index i --scenario s.yaml --seconds S`.

The process simulates its own PoP's normal CNF telemetry (`own_telemetry`: no other
process ever sees it), enrols with the one-time credential its launcher handed it in
the file named by `SECMAS_ENROLMENT` (removed once read; `secmas.trust.enrolment`) under
an identity it makes itself, waits for the coordinator's welcome, and then, behind the
secure channel, answers each task (`secmas.secagg.tasks`) in the secure sum that the task
names: its `LocalLearner` trains or counts, its `ClientAgent` masks the result and signs
every round's message with the enrolled Ed25519 key. It exits 0 on the coordinator's
stop, printing what it refused; 1 when it waited in vain, 2 for unusable arguments.
PyTorch runs on one thread: each agent trains on one core, as deployed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from secmas.ledger.accounts import Account
from secmas.secagg.errors import SecAggError
from secmas.secagg.fedbus import (
    JOIN_SUBJECT,
    TrainingMember,
    Welcome,
    join_box,
    member_name,
    open_welcome,
    ready_subject,
    secure_bus,
    task_subject,
    welcome_subject,
)
from secmas.secagg.learner import LocalLearner
from secmas.transport.bus import Bus
from secmas.trust.enrolment import CREDENTIAL_ENV, Credential, EnrolmentError, JoinRequest
from secmas.trust.identity import AgentIdentity

__all__ = ["main"]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m secmas.secagg.fedagent",
        description="One agent of federated training over the agents' sealed bus.",
    )
    parser.add_argument("--bus", required=True, help="NATS URL, e.g. nats://127.0.0.1:4222")
    parser.add_argument("--index", type=int, required=True, help="this agent's index (its PoP)")
    parser.add_argument("--scenario", type=Path, required=True, help="the scenario YAML")
    parser.add_argument("--seconds", type=float, required=True, help="seconds of own telemetry")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait at most")
    return parser.parse_args(argv)


async def _welcomed(
    nats: Bus, index: int, credential: Credential, timeout: float
) -> tuple[AgentIdentity, Welcome]:
    """Enrol under a fresh identity of this process's own; the welcome it gets back."""
    identity = AgentIdentity.generate(member_name(index))
    join = JoinRequest.make(identity, Account.create().address, credential)
    boxes: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_welcome(subject: str, data: bytes) -> None:
        boxes.put_nowait(data)

    subscription = await nats.subscribe(welcome_subject(index), on_welcome)
    await nats.flush()
    await nats.publish(JOIN_SUBJECT, join_box(join, credential))
    try:
        box = await asyncio.wait_for(boxes.get(), timeout)
    finally:
        await subscription.unsubscribe()
    return identity, open_welcome(box, identity, credential)


async def _serve(args: argparse.Namespace, credential: Credential) -> int:
    from secmas.analytics.threads import limit_torch_threads
    from secmas.scenario.loader import ScenarioError, load_scenario
    from secmas.secagg.federated import own_telemetry
    from secmas.transport.nats import NatsBus

    limit_torch_threads(1)
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"fedagent: --scenario {args.scenario}: {exc}", file=sys.stderr)
        return 2
    values, _ = own_telemetry(scenario, args.index, args.seconds)
    member = TrainingMember(LocalLearner(args.index, values))
    nats = await NatsBus.connect(args.bus, name=member_name(args.index))
    try:
        identity, welcome = await _welcomed(nats, args.index, credential, args.timeout)
        bus = secure_bus(nats, identity, welcome)
        tasks = task_subject(None, args.index)
        await member.start(bus, identity.signing, welcome.directory, tasks)
        await bus.publish(ready_subject(args.index), b"ready")
        await asyncio.wait_for(member.book.stopped.wait(), args.timeout)
        await member.stop()
        await bus.close()
    except TimeoutError:
        print(
            f"agent {args.index}: the coordinator went quiet for {args.timeout:g} s",
            file=sys.stderr,
        )
        return 1
    except (EnrolmentError, SecAggError) as exc:
        print(f"agent {args.index}: {exc}", file=sys.stderr)
        return 1
    finally:
        await nats.close()
    for reason in member.refused:
        print(f"refused: {reason}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of a federated agent process."""
    args = _arguments(argv)
    path = os.environ.get(CREDENTIAL_ENV)
    if not path:
        print(f"fedagent: no enrolment credential: set {CREDENTIAL_ENV}", file=sys.stderr)
        return 2
    try:
        credential = Credential.take(Path(path))
    except EnrolmentError as exc:
        print(f"fedagent: enrolment credential: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(args, credential))


if __name__ == "__main__":
    sys.exit(main())
