"""SECaaS's own attestations, several to a transaction, on the in-process EVM: a lone one
is recorded at once, those asked meanwhile share the next transaction, and one the
contract refuses refuses nobody else."""

from __future__ import annotations

import asyncio

import pytest
from tests.ledger.conftest import Pipeline, build_pipeline, evidence

from secmas.ledger import connect
from secmas.ledger.chain import Receipt
from secmas.ledger.errors import LedgerRevert
from secmas.ledger.registry import Initial
from secmas.trust.initials import InitialRecords


def _records(p: Pipeline, most: int = 64) -> InitialRecords:
    return InitialRecords(p.secaas, p.pid, asyncio.to_thread, most)


def _first(p: Pipeline, group: int, label: str) -> Initial:
    return Initial(p.members[2 * group].account, evidence(label), True, evidence("seen"))


@pytest.fixture
def grouped() -> Pipeline:
    """Eight agents in four groups of two, none attested yet."""
    ledger = connect(None)
    return build_pipeline(ledger, ledger.deploy(), 8, groups=4)


def test_attestations_asked_while_one_is_mined_share_the_next_transaction(
    grouped: Pipeline,
) -> None:
    p = grouped
    records = _records(p)

    async def attest() -> list[Receipt]:
        first = asyncio.ensure_future(records.recorded(_first(p, 0, "g0")))
        await asyncio.sleep(0)  # its transaction is on its way
        rest = [records.recorded(_first(p, g, f"g{g}")) for g in (1, 2, 3)]
        return [await first, *await asyncio.gather(*rest)]

    receipts = asyncio.run(attest())
    assert len({r.tx_hash for r in receipts}) == 2
    assert receipts[1] is receipts[2] is receipts[3]
    for g in range(4):  # each group's first agent is its root of trust, its step open
        assert p.mlfo.root_of_trust(p.pid, g) == p.members[2 * g].address
        step = p.mlfo.current_step(p.pid, g)
        assert step is not None and step.measured == p.members[2 * g + 1].address
    shared = receipts[1]
    for g in (1, 2, 3):
        first = p.members[2 * g]
        record = p.mlfo.recorded_in(
            p.pid,
            shared.tx_hash,
            shared.block,
            first.account,
            evidence(f"g{g}"),
        )
        assert record is not None and record.group == g and record.measured == first.address


def test_a_refused_attestation_refuses_nobody_else_in_its_transaction(grouped: Pipeline) -> None:
    p = grouped
    p.mlfo.revoke(p.pid, p.members[2].account)
    records = _records(p, most=3)

    async def attest() -> list[object]:
        asked = [records.recorded(_first(p, g, f"g{g}")) for g in range(4)]
        return await asyncio.gather(*asked, return_exceptions=True)

    answers = asyncio.run(attest())
    assert isinstance(answers[1], LedgerRevert) and "revoked" in str(answers[1])
    assert not any(isinstance(a, BaseException) for a in (answers[0], answers[2], answers[3]))
    for g in (0, 2, 3):
        assert p.mlfo.is_trusted(p.pid, p.members[2 * g].account)
    assert not p.mlfo.is_trusted(p.pid, p.members[2].account)


def test_a_transaction_holds_one_to_the_most_a_block_allows(grouped: Pipeline) -> None:
    p = grouped
    for count in (0, 65):
        with pytest.raises(ValueError, match="send 1 to 64 at once"):
            p.secaas.record_initials(p.pid, [_first(p, 0, "g0")] * count)
