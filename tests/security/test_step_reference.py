"""Attacks on the one-transaction attestation step (`AgentRegistry.recordStep`):
the verifier records the reference SECaaS handed it off chain, so the contract
must take only a reference SECaaS signed for this very step. A verifier that signs its
own reference, swaps the reference after the signature, replays a signature of an earlier
step or sends a malleated (high-s) copy of a genuine signature is refused, and nothing is
recorded."""

from __future__ import annotations

import pytest
from tests.ledger.conftest import Pipeline, build_pipeline, evidence

from secmas.ledger import Contracts, Ledger, LedgerRevert, StepInfo, connect
from secmas.ledger.messages import sign_personal
from secmas.ledger.transactions import SECP256K1_N

NOT_SIGNED = "AgentRegistry: reference not signed by the SECaaS"


@pytest.fixture
def opened() -> Pipeline:
    """A pipeline whose first mutual step is open: member 0 (the root of trust) is to
    measure member 1."""
    ledger: Ledger = connect(None)
    contracts: Contracts = ledger.deploy()
    p = build_pipeline(ledger, contracts, 3)
    p.bootstrap()
    return p


def _open(p: Pipeline) -> StepInfo:
    step = p.secaas.current_step(p.pid)
    assert step is not None
    return step


def _refused(p: Pipeline, step: StepInfo, sealed: bytes, signature: bytes) -> None:
    verifier = p.member(step.verifier).registry
    records = p.mlfo.record_count(p.pid)
    with pytest.raises(LedgerRevert) as caught:
        verifier.record_step(
            p.pid, step.index, step.nonce, True, evidence("forged"), sealed, signature
        )
    assert caught.value.rule == NOT_SIGNED
    assert p.mlfo.record_count(p.pid) == records
    assert not p.mlfo.is_trusted(p.pid, step.measured)


def test_a_reference_the_verifier_signed_itself_is_refused(opened: Pipeline) -> None:
    p = opened
    step = _open(p)
    verifier = p.member(step.verifier)
    signature = verifier.registry.sign_reference(p.pid, step, b"own reference")
    _refused(p, step, b"own reference", signature)


def test_a_reference_swapped_after_signing_is_refused(opened: Pipeline) -> None:
    p = opened
    step = _open(p)
    signature = p.secaas.sign_reference(p.pid, step, b"genuine reference")
    _refused(p, step, b"a reference the verifier likes better", signature)


def test_a_signature_of_an_earlier_step_is_refused(opened: Pipeline) -> None:
    p = opened
    first = _open(p)
    sealed = b"sealed reference"
    signature = p.secaas.sign_reference(p.pid, first, sealed)
    p.member(first.verifier).registry.record_step(
        p.pid, first.index, first.nonce, True, evidence("first"), sealed, signature
    )
    second = _open(p)
    assert second.index == first.index + 1
    _refused(p, second, sealed, signature)


def test_a_malleated_signature_is_refused(opened: Pipeline) -> None:
    p = opened
    step = _open(p)
    sealed = b"sealed reference"
    genuine = p.secaas.sign_reference(p.pid, step, sealed)
    s = int.from_bytes(genuine[32:64], "big")
    flipped = genuine[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - genuine[64]])
    _refused(p, step, sealed, flipped)


def test_a_signature_by_the_mlfo_is_refused(opened: Pipeline) -> None:
    p = opened
    step = _open(p)
    signature = p.mlfo.sign_reference(p.pid, step, b"sealed reference")
    _refused(p, step, b"sealed reference", signature)


def test_a_garbage_signature_is_refused(opened: Pipeline) -> None:
    p = opened
    step = _open(p)
    _refused(p, step, b"sealed reference", sign_personal(b"\x01" * 32, b"x")[:64])
