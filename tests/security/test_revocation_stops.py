"""A revoked agent takes no further action, in one process and as a process.

Found on HEAD: in one process, pop3 wins flowRecord(10.0.0.100, 0) at t = 26 s and
downloads its Classifier for 100 s. Tampered at 5 s, it fails the attestation step at
30 s and is revoked, its goal re-auctioned to pop2; yet at 130 s its download ends, it
starts the Classifier, steers the server's traffic through it and classifies the flows:
a revoked agent acted on the network. The same when the MLFO removes it (the SSLA
manager's REVOKE). With `--processes`, an agent the SSLA manager revoked kept its process
running until the run ended.

Now revocation stops the agent: in one process its reasoning halts and what it works on
for others is withdrawn and journalled (a download stopped, an instance started for it
terminated); trust is checked at the act, not only at the auction, so a winner that was
never told still does not act; with processes the IML driver stops its process
(SIGTERM, then SIGKILL after a grace) and the run goes on without it.

One process: the reference scenario on the real MemoryBus, VirtualClock, data plane,
ledger and chain (`operate`); the mailbox cases on `tests.agents.test_leases.Net`. With
processes: `secmas agent` processes over a real nats-server and the JSON-RPC ledger,
the real SSLA manager revoking the sender of a plaintext message, and an agent patched in
memory failing its attestation.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.agents.test_leases import SETTINGS, Net
from tests.e2e.ddos_runs import SCENARIO
from tests.policy.test_manager import ROGUE, ROGUE_AT, RogueSender, sslas

from secmas.agents.ddos.world import World
from secmas.agents.handle import AgentHandle
from secmas.api.scenarios import TAMPER_AT
from secmas.network.resources import Amount
from secmas.pipeline.iml import LocalProcesses
from secmas.pipeline.operate import OperateResult, operate
from secmas.pipeline.outside import operate_processes
from secmas.pipeline.runloop import TrustLayer
from secmas.policy.audit import AuditLog
from secmas.policy.manager import SSLAManager
from secmas.report.acceptance import Timeline, acceptance
from secmas.scenario.loader import load_scenario
from secmas.transport.broker import find_nats_server

ROOT = Path(__file__).resolve().parents[2]
WINNER = "pop3"
GOAL = "flowRecord(10.0.0.100, 0)"
INITIATOR = "pop5"
REMOVED_AT = 50.0
"""When the MLFO removes pop3, half-way through its Classifier download (26–126 s)."""


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 300))


class Remover:
    """A step loop that revokes `agent` through the run's trust layer at `at`, as the
    SSLA manager's REVOKE does (`secmas.policy.manager`)."""

    def __init__(self, agent: str, at: float) -> None:
        self.agent, self.at = agent, at
        self.layer: TrustLayer | None = None
        self.removed = False

    def attach(self, _world: World, _attestations: Any, trust_layer: TrustLayer | None = None):
        self.layer = trust_layer

    async def start(self, _agents: Sequence[AgentHandle]) -> None:
        return None

    async def after_step(self, now: float) -> None:
        if now >= self.at and not self.removed:
            assert self.layer is not None
            await self.layer.remove_agent(self.agent, "SSLA breached (test)")
            self.removed = True

    def report(self) -> dict[str, Any]:
        return {}


@functools.cache
def revoked_run(how: str) -> tuple[OperateResult, float]:
    """The reference scenario in one process with pop3 revoked while it downloads its
    Classifier: by a failed attestation (tampered at 5 s) or by the MLFO; and when."""
    if how == "attestation":
        result = run(operate(SCENARIO, tamper={WINNER: TAMPER_AT}))
        assert result.trust is not None
        [failed] = [e for e in result.trust["attestations"] if e["result"] == "fail"]
        assert failed["measured"] == WINNER
        return result, float(failed["time"])
    result = run(operate(SCENARIO, loops=[Remover(WINNER, REMOVED_AT)]))
    return result, REMOVED_AT


@pytest.mark.parametrize("how", ["attestation", "mlfo"])
def test_a_winner_revoked_during_its_download_takes_no_further_action(how: str) -> None:
    result, revoked = revoked_run(how)
    journal = result.journal
    assert result.trust is not None and not result.trust["agents"][WINNER]["trusted"]
    # it started no VNF, acted on nothing and executed no goal from its revocation on
    assert not [p for p in journal.placements if p.pop == WINNER and p.time >= revoked]
    after = [a for a in journal.actions if a.agent == WINNER and a.time >= revoked]
    assert [(a.action, a.time) for a in after] == [("cancelGoal", revoked)], after
    assert not [e for e in journal.executions if e.agent == WINNER]
    # its download gave its resources back: nothing of it is left on its PoP
    assert result.infra.pops[WINNER].used == Amount()
    assert not [i for i in result.infra.instances.values() if i.pop == WINNER]
    # the goal was done once, by another agent, and the attack mitigated
    [done] = [r for _, r in journal.auctions if r.outcome.label == GOAL and r.status == "done"]
    assert done.outcome.winner is not None and done.outcome.winner.bidder != WINNER
    assert [e.agent for e in journal.executions if e.goal == GOAL] == [done.outcome.winner.bidder]
    accepted = acceptance(result.telemetry, Timeline.of(result.scenario), result.capacity.ok)
    assert accepted.passed, accepted


@pytest.mark.parametrize("how", ["attestation", "mlfo"])
def test_the_revoked_winners_work_in_flight_is_journalled_as_cancelled(how: str) -> None:
    result, revoked = revoked_run(how)
    [cancel] = [a for a in result.journal.actions if a.action == "cancelGoal"]
    assert (cancel.agent, cancel.time) == (WINNER, revoked)
    assert cancel.detail.startswith(f"{GOAL} for {INITIATOR}, downloading: revoked: ")


# -- trust checked at the act: a winner nobody told ---------------------------------------------


def _untold(lease_renew: float) -> tuple[Net, Any]:
    """A auctions a Rate Limiter, C wins it (download 10 s) and is revoked at t = 5: only
    the trust view the mailboxes share changes; nobody tells C, and A, which ignores C from
    then on, sends it no CANCEL before C's download ends (A's lease is long). C renews
    its lease every `lease_renew` s."""
    net = Net(plan_s=1.0)
    trusted = {"A", "B", "C"}
    for box in net.boxes.values():
        box.hooks.admits = trusted.__contains__
    net.boxes["A"].endpoint.settings = replace(SETTINGS, lease=200.0)
    net.boxes["C"].endpoint.settings = replace(SETTINGS, lease_renew=lease_renew)

    async def revoke() -> None:
        trusted.discard("C")

    return net, revoke


def test_a_winner_revoked_before_its_download_ends_does_not_act_when_it_ends() -> None:
    """No lease renewal falls in C's download: only the check at the act can stop it. It
    terminates the instance it just started instead of running its plan, when its download
    ends: long before its first renewal (t = 100 s), which would stop it otherwise; B does
    the goal."""

    async def main() -> None:
        net, revoke = _untold(lease_renew=100.0)
        box, stopped = net.boxes["C"], []
        terminate = box.hooks.terminate
        assert terminate is not None

        async def timed(instance: str, cause: str) -> None:
            stopped.append(net.clock.now())
            await terminate(instance, cause)

        box.hooks.terminate = timed
        await net.start()
        record = await net.auction(until=300, during=revoke, at=5.0)
        assert record.status == "done" and record.outcome.winner.bidder == "B"
        assert [name for name, _ in net.runs] == ["B"]  # C's plan never ran
        assert len(stopped) == 1 and stopped[0] < 100.0, stopped  # at its act, not renewal
        [(instance, cause)] = net.terminated
        assert instance.startswith("rate_limiter@C")
        assert cause == "linkRateLimited(pop6~server) cancelled: the winner is not admitted"
        assert net.infra.pops["C"].used == Amount()
        await net.bus.close()

    run(main())


def test_a_winner_revoked_during_its_download_gives_it_up_at_its_next_lease_renewal() -> None:
    """With the usual renewals (every 2 s), C stops downloading at the first one after its
    revocation: it never starts the VNF (nothing to terminate), its resources go back."""

    async def main() -> None:
        net, revoke = _untold(lease_renew=SETTINGS.lease_renew)
        await net.start()
        record = await net.auction(until=300, during=revoke, at=5.0)
        assert record.status == "done" and record.outcome.winner.bidder == "B"
        assert [name for name, _ in net.runs] == ["B"]
        assert not net.terminated
        assert net.infra.pops["C"].used == Amount()
        await net.bus.close()

    run(main())


# -- with processes: the revoked agent's process is stopped -----------------------------------

NEEDS_NATS = pytest.mark.skipif(find_nats_server() is None, reason="needs nats-server")
INJECTION = ROOT / "scenarios" / "spoofed-injection.yaml"
TAMPERED = "pop2"
SPEED = 10.0


@NEEDS_NATS
def test_with_processes_a_revoked_agents_process_is_stopped_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    """The SSLA manager revokes pop3 for a plaintext message at 31 s (its REVOKE, through
    the MLFO's trust layer); pop2, patched in memory at 5 s, fails its attestation step
    and is revoked. Each one's process is stopped after its revocation, before the run
    ends (how soon depends on the machine), the MLFO journals it, and the others run to
    the end and give their final states (on HEAD both ran on, and every step waited for
    their ticks in vain)."""
    scenario = load_scenario(INJECTION)
    manager = SSLAManager(
        sslas("  - {id: enc, slice: protected-web, kind: encryption}\n"), AuditLog()
    )
    iml = LocalProcesses(tmp_path)
    dead_at: dict[str, float] = {}

    def progress(now: float, _duration: float) -> None:
        for pop in iml.dead():
            dead_at.setdefault(pop, now)

    result = run(
        operate_processes(
            scenario,
            INJECTION,
            workdir=tmp_path,
            speed=SPEED,
            progress=progress,
            iml=iml,
            loops=[RogueSender(), manager],
            tamper={TAMPERED: TAMPER_AT},
        )
    )
    assert result.trust is not None
    [revoke] = [e for e in manager.enforcements if e.action == "REVOKE"]
    assert revoke.target == ROGUE and revoke.time == ROGUE_AT + 1
    [failed] = [e for e in result.trust["attestations"] if e["result"] == "fail"]
    assert failed["measured"] == TAMPERED
    revoked = {ROGUE: revoke.time, TAMPERED: failed["time"]}
    assert {p for p, a in result.trust["agents"].items() if not a["trusted"]} == set(revoked)
    assert set(dead_at) == set(revoked)  # the others ran to the end
    assert scenario.traffic is not None
    # dead before the run's end (how soon after its revocation depends on the machine)
    assert all(at < scenario.traffic.duration for at in dead_at.values()), dead_at
    step = scenario.traffic.step
    stops = {a.detail.split(":")[0]: a for a in result.journal.actions if a.action == "stopAgent"}
    assert set(stops) == set(revoked)
    for pop, stop in stops.items():  # SIGTERM, or SIGKILL after the grace on a busy machine
        assert stop.agent == "mlfo"
        assert re.match(rf"{pop}: (terminated|killed after [\d.]+ s) \(revoked: ", stop.detail)
    assert len(result.telemetry) == scenario.traffic.duration / step
    others = {p.id for p in scenario.pops} - set(revoked)
    assert set(result.trust["channel"]["agents"]) == others  # their final states, at the end
