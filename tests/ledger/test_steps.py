"""One transaction per attestation step (`recordStep`): the reference SECaaS signed off
chain and the verdict are recorded together, the next step opens, and the step costs
less gas than the two-transaction form (`provideReference` + `recordResult`) on the
same reference."""

from __future__ import annotations

import os

from eth_utils import keccak
from tests.ledger.conftest import Pipeline, build_pipeline, evidence

from secmas.ledger import Contracts, Ledger, connect
from secmas.ledger.messages import sign_personal, signer_of
from secmas.ledger.registry import reference_digest

SEALED = os.urandom(180)  # a sealed reference's size: root, image name, AEAD overhead


def _pipeline() -> Pipeline:
    ledger: Ledger = connect(None)
    contracts: Contracts = ledger.deploy()
    p = build_pipeline(ledger, contracts, 3)
    p.bootstrap()
    return p


def test_a_step_is_one_transaction_that_records_and_opens_the_next() -> None:
    p = _pipeline()
    step = p.secaas.current_step(p.pid)
    assert step is not None and not step.reference_provided
    signature = p.secaas.sign_reference(p.pid, step, SEALED)
    receipt = p.member(step.verifier).registry.record_step(
        p.pid, step.index, step.nonce, True, evidence("step"), SEALED, signature
    )
    names = [e.name for e in receipt.events]
    assert names == ["ReferenceProvided", "AttestationRecorded", "StepOpened"]
    record = p.mlfo.last_record(p.pid)
    assert (record.step, record.measured, record.passed) == (step.index, step.measured, True)
    assert p.mlfo.root_of_trust(p.pid) == step.measured
    following = p.secaas.current_step(p.pid)
    assert following is not None and following.index == step.index + 1


def test_one_transaction_costs_less_gas_than_two() -> None:
    two, one = _pipeline(), _pipeline()
    step = two.secaas.current_step(two.pid)
    assert step is not None
    provided = two.secaas.provide_reference(two.pid, step.index, SEALED)
    recorded = two.member(step.verifier).registry.record_result(
        two.pid, step.index, step.nonce, True, evidence("step")
    )
    step = one.secaas.current_step(one.pid)
    assert step is not None
    signature = one.secaas.sign_reference(one.pid, step, SEALED)
    combined = one.member(step.verifier).registry.record_step(
        one.pid, step.index, step.nonce, True, evidence("step"), SEALED, signature
    )
    before = provided.gas_used + recorded.gas_used
    assert combined.gas_used < 0.75 * before, (combined.gas_used, before)


def test_a_personal_signature_names_its_signer() -> None:
    key = bytes(range(1, 33))
    signature = sign_personal(key, b"digest")
    p = _pipeline()
    assert signer_of(b"digest", signature) == p.ledger.new_account().from_key(key).address
    assert signer_of(b"other", signature) != signer_of(b"digest", signature)


def test_the_digest_secaas_signs_is_the_contracts_for_every_group_and_guest() -> None:
    """`reference_digest`, computed from the step as read, is what the contract's
    `referenceDigest` computes (the contract checks SECaaS's signature over it), for each
    group's steps and a guest step alike; another step's gives another digest."""
    ledger: Ledger = connect(None)
    p = build_pipeline(ledger, ledger.deploy(), 4, groups=2)
    p.bootstrap(0)
    p.bootstrap(2)
    seen = set()
    for _ in range(3):
        for group in (0, 1):
            step = p.secaas.current_step(p.pid, group)
            assert step is not None
            on_chain = p.secaas.reference_digest_on_chain(p.pid, SEALED, group)
            here = reference_digest(
                ledger.chain.chain_id, p.secaas.address, p.pid, step, keccak(SEALED)
            )
            assert here == on_chain and here not in seen
            seen.add(here)
            signature = p.secaas.sign_reference(p.pid, step, SEALED)
            p.member(step.verifier).registry.record_step(
                p.pid, step.index, step.nonce, True, evidence("s"), SEALED, signature, group
            )
    guests = [r for r in p.mlfo.records(p.pid) if r.measured not in p.mlfo.plan(p.pid, r.group)]
    assert guests  # a guest step was among them
