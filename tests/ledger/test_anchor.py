"""The AuditAnchor contract on the in-process EVM: anchors read back per log, events, and its
rules as LedgerRevert."""

from __future__ import annotations

import hashlib

import pytest

from secmas.ledger import Ledger, LedgerError, LedgerRevert, connect
from secmas.ledger.anchor import AnchorRecord, AuditAnchorClient


def log_id(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def head(label: str) -> bytes:
    return hashlib.sha256(b"head " + label.encode()).digest()


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return connect(None)


@pytest.fixture(scope="module")
def anchors(ledger: Ledger) -> AuditAnchorClient:
    return ledger.deploy_audit_anchor()


def test_anchors_are_read_back_in_order_per_log(ledger: Ledger, anchors: AuditAnchorClient) -> None:
    first = anchors.anchor(log_id("run-a"), 3, head("a3"))
    anchors.anchor(log_id("run-b"), 10, head("b10"))
    anchors.anchor(log_id("run-a"), 7, head("a7"))
    assert anchors.anchor_count(log_id("run-a")) == 2
    assert anchors.anchor_count(log_id("run-b")) == 1
    assert anchors.anchor_count(log_id("never")) == 0
    records = anchors.anchors(log_id("run-a"))
    assert [(r.count, r.head) for r in records] == [(3, head("a3")), (7, head("a7"))]
    block_time = ledger.block_time(first.block)
    assert records[0] == AnchorRecord(3, head("a3"), block_time)
    assert anchors.anchor_at(log_id("run-b"), 0).count == 10
    (event,) = first.events
    assert (event.name, dict(event.args)) == (
        "Anchored",
        {"log": log_id("run-a"), "count": 3, "head": head("a3")},
    )
    assert [e.args["count"] for e in anchors.events(pipeline=log_id("run-a"))] == [3, 7]


def test_an_attached_client_reads_the_same_anchors(
    ledger: Ledger, anchors: AuditAnchorClient
) -> None:
    anchors.anchor(log_id("attached"), 1, head("x"))
    other = ledger.attach_audit_anchor(anchors.address)
    assert other.anchors(log_id("attached")) == anchors.anchors(log_id("attached"))
    assert other.url == "memory"


@pytest.mark.parametrize(
    ("count", "value", "rule"),
    [
        (5, head("again"), "AuditAnchor: count not above the last anchored count"),
        (4, head("lower"), "AuditAnchor: count not above the last anchored count"),
        (6, bytes(32), "AuditAnchor: zero head"),
    ],
)
def test_counts_only_grow_and_heads_are_not_zero(
    anchors: AuditAnchorClient, count: int, value: bytes, rule: str
) -> None:
    log = log_id(f"rules-{count}")
    anchors.anchor(log, 5, head("five"))
    with pytest.raises(LedgerRevert) as caught:
        anchors.anchor(log, count, value)
    assert (caught.value.contract, caught.value.function, caught.value.rule) == (
        "AuditAnchor",
        "anchor",
        rule,
    )
    assert anchors.anchor_count(log) == 1


def test_a_first_anchor_covers_at_least_one_entry(anchors: AuditAnchorClient) -> None:
    with pytest.raises(LedgerRevert, match="count not above the last anchored count"):
        anchors.anchor(log_id("empty"), 0, head("none"))


def test_only_the_owner_anchors(ledger: Ledger, anchors: AuditAnchorClient) -> None:
    with pytest.raises(LedgerRevert) as caught:
        anchors.as_(ledger.secaas).anchor(log_id("intruder"), 1, head("forged"))
    assert caught.value.rule == "AuditAnchor: caller is not the owner"
    assert anchors.anchor_count(log_id("intruder")) == 0


def test_reading_past_the_last_anchor_reverts(anchors: AuditAnchorClient) -> None:
    with pytest.raises(LedgerRevert) as caught:
        anchors.anchor_at(log_id("never"), 0)
    assert (caught.value.function, caught.value.rule) == (
        "anchorAt",
        "AuditAnchor: no anchor at this index",
    )


def test_an_address_without_the_contract_is_named(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="no AuditAnchor contract at 0x"):
        ledger.attach_audit_anchor(ledger.secaas.address).anchors(log_id("x"))


def test_ids_and_heads_are_32_bytes(anchors: AuditAnchorClient) -> None:
    with pytest.raises(ValueError, match="log id must be 32 bytes"):
        anchors.anchor(b"run", 1, head("x"))
    with pytest.raises(ValueError, match="head must be 32 bytes"):
        anchors.anchor(log_id("x"), 1, b"\x01")
