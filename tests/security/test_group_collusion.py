"""A corrupted attestation group: agents that passed, then were all patched in memory,
and whose verifier roles record PASS for whomever they measure, with their real keys
and ledger accounts, so that inside their group they vouch for each other for good.

Split into attestation groups, the chain no longer passes every agent through one plan:
a group whose members are all corrupted would pass each other round after round, and
only SECaaS's unannounced checks (off here) would ever look from outside. The defence:
every round of a group ends with a guest step, its root of trust measuring a member of
another group; a guest failed that way (SECaaS's own check confirming it) has SECaaS
audit the guest's whole group itself. The corrupted group falls within one cross-check
interval — one round of the checking group — and nobody honest is touched.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from tests.security.conftest import run
from tests.trust.test_chain import agent_image

from secmas.network.clock import VirtualClock, drive_clock
from secmas.pipeline.inprocess import bring_up
from secmas.scenario.model import Attestation, Security
from secmas.transport.memory import MemoryBus
from secmas.trust.attestation import Appraisal, Evidence, Verifier
from secmas.trust.chain import AUDIT, GUEST, VerifierRole
from secmas.trust.groups import round_steps

PIPE = "collusion"
AGENTS = ["a1", "a2", "a3", "a4", "a5", "a6"]
PERIOD, INTERVAL = 10.0, 40.0  # groups of three: a1 a2 a3 | a4 a5 a6, rounds of 4 steps
COLLUDERS = ("a4", "a5", "a6")
HONEST = ("a1", "a2", "a3")


class Vouching(Verifier):
    """Challenges and appraises as a genuine verifier does, then says PASS, naming the
    evidence it appraised, as a pass must."""

    def appraise(self, evidence: Evidence, reference: bytes, signing_key: bytes) -> Appraisal:
        genuine = super().appraise(evidence, reference, signing_key)
        return replace(genuine, passed=True, reasons=())


def vouch(role: VerifierRole) -> None:
    genuine = role.verifier
    role.verifier = Vouching(genuine.name, genuine.max_age, genuine.clock)


def test_a_group_that_vouches_for_itself_falls_within_one_cross_check(tmp_path: Path) -> None:
    security = Security(attestation=Attestation(period=PERIOD, interval=INTERVAL, random=None))
    colluding = agent_image(tmp_path)  # one package, patched once: all three differ
    module = sys.modules[colluding.runtime.layout.name]
    genuine = module.decide.__code__

    async def main() -> None:
        bus, clock = MemoryBus(), VirtualClock()
        images = dict.fromkeys(COLLUDERS, colluding)
        pipeline = await bring_up(PIPE, AGENTS, bus, clock, security, images=images)
        mlfo = pipeline.mlfo
        try:
            assert mlfo.groups == (HONEST, COLLUDERS)
            assert all(mlfo.view.admits(a) for a in AGENTS)
            module.decide.__code__ = (lambda load: True).__code__  # the whole group patched
            for agent in COLLUDERS:
                vouch(pipeline.members[agent].role)
            corrupted_at = clock.now()
            mlfo.attest_in_background(clock, seed=1)
            cross_check = round_steps(len(HONEST), len(mlfo.groups)) * PERIOD
            t = corrupted_at
            while any(mlfo.view.admits(a) for a in COLLUDERS) and t < corrupted_at + 120:
                t += 1.0
                await drive_clock(clock, t)
            entries = list(mlfo.entries)
        finally:
            module.decide.__code__ = genuine
            await pipeline.close()
            await bus.close()
        after = [e for e in entries if e.time is not None and e.time >= corrupted_at]
        # Inside their group the colluders passed each other ...
        vouched = [e for e in after if e.verifier in COLLUDERS and e.measured in COLLUDERS]
        assert vouched and all(e.passed for e in vouched)
        # ... until an honest group's guest step failed one, and SECaaS audited the rest.
        caught = [e for e in after if not e.passed]
        assert caught[0].kind == GUEST and caught[0].verifier in HONEST
        assert {e.measured for e in caught} == set(COLLUDERS)
        assert {e.kind for e in caught[1:]} == {AUDIT}
        assert all(e.revoke_tx is not None for e in caught)
        assert max(e.time for e in caught) - corrupted_at <= cross_check
        assert set(mlfo.view.excluded) == set(COLLUDERS)
        assert all(mlfo.view.admits(a) for a in HONEST)

    run(main(), timeout=240)
