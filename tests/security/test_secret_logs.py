"""An agent that reads every sealed secret of a key push itself.

A push's sealed secrets travel in its `SecretPushed` logs, which anyone who reaches the
chain can read, as anyone could read the contract's storage before (`fetchSecret`'s
trust check never hid them). The attacker here is a member that failed its attestation:
the contract refuses its `fetchSecret`, so it reads the logs of the push directly, every
box of the epoch, and tries to open each with its own key and the epoch's context. It
must open none: the pipeline secret is sealed to each trusted agent's key, and only the
sealing keeps it secret. A trusted member opens its own box only.
"""

from __future__ import annotations

import pytest
from tests.ledger.conftest import build_pipeline

from secmas.ledger import connect
from secmas.ledger.errors import LedgerRevert
from secmas.trust.epochs import Recipient, fetch_secret, push_epoch, secret_context
from secmas.trust.identity import AgentIdentity
from secmas.trust.sealing import SealError, open_sealed

PIPELINE = "logs"


def test_a_failed_member_reading_every_box_of_the_push_opens_none() -> None:
    ledger = connect(None)
    contracts = ledger.deploy()
    p = build_pipeline(ledger, contracts, 4, PIPELINE)
    identities = [AgentIdentity.generate(m.name) for m in p.members]
    p.bootstrap()
    p.attest()
    p.attest(passed=False)  # member 2 fails: it is no longer trusted
    p.attest()
    trusted = [0, 1, 3]
    pushed = push_epoch(
        PIPELINE,
        contracts.registry,
        contracts.secret_store,
        [Recipient(p.members[i].address, identities[i].sealing_public) for i in trusted],
        keep_secret=True,
    )
    attacker, key = p.members[2], identities[2]
    with pytest.raises(LedgerRevert, match="caller not trusted"):
        fetch_secret(PIPELINE, attacker.store, key)
    boxes = [
        e.args["sealedSecret"]
        for e in contracts.secret_store.events(pipeline=p.pid)
        if e.name == "SecretPushed"
    ]
    assert len(boxes) == len(trusted)  # every box of the push, read by the attacker
    context = secret_context(PIPELINE, pushed.epoch)
    for box in boxes:
        with pytest.raises(SealError):
            open_sealed(box, key.sealing, context)
    honest = fetch_secret(PIPELINE, p.members[0].store, identities[0])
    assert (honest.epoch, honest.secret) == (pushed.epoch, pushed.secret)
    opened = []
    for box in boxes:
        try:
            opened.append(open_sealed(box, identities[0].sealing, context))
        except SealError:
            continue
    assert opened == [pushed.secret]  # its own box, and no other
