"""The audit log: the hashing rule by hand, the file, tampering of every kind found at the
right entry, and anchoring on the real in-process EVM."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.ledger import Ledger, LedgerRevert, connect
from secmas.ledger.anchor import AuditAnchorClient
from secmas.policy.audit import (
    GENESIS,
    Anchor,
    Anchorer,
    AnchorFile,
    AuditEntry,
    AuditFormatError,
    AuditLog,
    Notarisation,
    TamperedLog,
    Verification,
    audit_log_id,
    canonical_json,
    make_entry,
    read_anchors,
    read_log,
    statement_bytes,
    verify,
    write_anchors,
)

DECISIONS = ("breach", "reject_packet", "notify", "revoke", "alert", "goal", "conflict")


def build(count: int) -> list[AuditEntry]:
    """A log of `count` entries, one second apart."""
    log = AuditLog()
    for i in range(count):
        log.append(
            float(i),
            "SSLAAssessor" if i % 2 else "ClosedLoop",
            DECISIONS[i % len(DECISIONS)],
            f"decision {i}",
            {"i": i},
        )
    return list(log.entries)


def rechain(entries: list[AuditEntry], start: int, explanation: str) -> list[AuditEntry]:
    """What a forger with write access does: change entry `start` and recompute every hash
    from there on, so that the chain alone verifies."""
    forged = entries[:start]
    for entry in entries[start:]:
        text = explanation if entry.seq == start else entry.explanation
        prev = forged[-1].hash if forged else GENESIS
        fields = (entry.time, entry.actor, entry.decision, text, entry.evidence, prev)
        forged.append(make_entry(entry.seq, *fields))
    return forged


def write_log(path: Path, entries: list[AuditEntry]) -> Path:
    path.write_text("".join(e.to_json() + "\n" for e in entries), encoding="ascii")
    return path


def test_first_entry_hash_is_the_sha256_of_its_canonical_body() -> None:
    log = AuditLog()
    entry = log.append(
        1.5, "SSLAAssessor", "breach", "InvalidSourcePackets > 0: 3 packets", {"kpi": 3, "é": [1]}
    )
    body = (
        '{"actor":"SSLAAssessor","decision":"breach","evidence":{"kpi":3,"\\u00e9":[1]},'
        '"explanation":"InvalidSourcePackets > 0: 3 packets",'
        f'"prev":"{"0" * 64}","seq":0,"time":1.5}}'
    )
    assert entry.hash == hashlib.sha256(body.encode("ascii")).hexdigest()
    assert entry.prev == GENESIS and entry.seq == 0
    assert json.loads(entry.to_json()) == {**json.loads(body), "hash": entry.hash}


def test_entries_chain_and_the_head_follows() -> None:
    log = AuditLog()
    assert (len(log), log.head, log.last) == (0, GENESIS, None)
    first = log.append(0, "pop3", "reject_packet", "source not whitelisted")
    second = log.append(2, "SSLAAssessor", "revoke", "agent failed attestation", {"pop": "pop3"})
    assert second.prev == first.hash and second.seq == 1 and first.evidence == {}
    assert (len(log), log.head, log.last, log.entries) == (2, second.hash, second, (first, second))
    assert first.time == 0.0 and isinstance(first.time, float)
    assert verify(log.entries) == Verification(True, 2, None, None, 0)


def test_evidence_is_copied_as_plain_json() -> None:
    evidence: dict[str, Any] = {"flows": ("10.0.0.1", "10.0.0.2"), "rate": {"max": 1.0}}
    entry = AuditLog().append(0, "ClosedLoop", "alert", "HTTP flood", evidence)
    evidence["rate"]["max"] = 99.0
    assert entry.evidence == {"flows": ["10.0.0.1", "10.0.0.2"], "rate": {"max": 1.0}}


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        ({"rate": float("nan")}, "evidence.rate: nan is not allowed"),
        ({"a": {"b": [1, float("inf")]}}, r"evidence.a.b\[1\]: inf is not allowed"),
        ({"a": {3: "x"}}, "evidence.a: key 3 is not a string"),
        ({"when": object()}, "evidence.when: object value"),
        ({"raw": b"\x00"}, "evidence.raw: bytes value"),
    ],
)
def test_evidence_that_is_not_json_is_refused_naming_the_key(
    evidence: dict[Any, Any], message: str
) -> None:
    log = AuditLog()
    with pytest.raises(ValueError, match=message):
        log.append(0, "ClosedLoop", "alert", "x", evidence)
    assert len(log) == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ((float("nan"), "a", "b", "c"), "time must be a finite number"),
        ((True, "a", "b", "c"), "time must be a finite number"),
        ((0, "", "b", "c"), "actor must be a non-empty string"),
        ((0, "a", None, "c"), "decision must be a non-empty string"),
        ((0, "a", "b", 7), "explanation must be a string"),
    ],
)
def test_fields_that_cannot_be_logged_are_refused(fields: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AuditLog().append(*fields)


def test_file_log_is_written_through_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.append(0.5, "ClosedLoop", "alert", "CPU anomaly on cnf-1", {"score": 0.93})
        assert read_log(path) == list(log.entries)  # flushed before the next entry
        log.append(1.0, "ClosedLoop", "goal", "limit 10.0.0.9", {"goal": "rate_limit"})
    assert read_log(path) == list(log.entries)
    assert path.read_text().count("\n") == 2
    with pytest.raises(ValueError, match="closed"):
        log.append(2, "a", "b", "c")


def test_an_existing_log_is_only_continued_when_resumed_and_intact(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", build(3))
    with pytest.raises(FileExistsError, match="resume"):
        AuditLog(path)
    with AuditLog(path, resume=True) as log:
        assert len(log) == 3
        log.append(9, "ClosedLoop", "notify", "after the restart")
    assert verify(read_log(path)).ok and len(read_log(path)) == 4
    forged = build(3)
    forged[1] = replace(forged[1], explanation="nothing happened")
    with pytest.raises(TamperedLog, match="entry 1 is not intact"):
        AuditLog(write_log(path, forged), resume=True)


def test_resuming_a_file_without_a_final_newline_keeps_lines_apart(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("\n".join(e.to_json() for e in build(2)), encoding="ascii")
    with AuditLog(path, resume=True) as log:
        log.append(5, "a", "b", "c")
    assert verify(read_log(path)) == verify(build(3))


def test_an_empty_file_is_a_new_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.touch()
    with AuditLog(path) as log:
        log.append(0, "a", "b", "c")
    assert len(read_log(path)) == 1


GOOD = build(1)[0].to_json()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not JSON: Expecting property name enclosed in double quotes (column 2)"),
        ("[1, 2]", "not a JSON object"),
        ("", "empty line"),
        (GOOD.replace('"actor":"ClosedLoop",', ""), "missing field 'actor'"),
        (GOOD.replace('"seq":0', '"seq":"0"'), "field 'seq' must be an integer, not a string"),
        (GOOD.replace('"seq":0', '"seq":true'), "field 'seq' must be an integer, not a boolean"),
        (GOOD.replace('"time":0.0', '"time":null'), "field 'time' must be a number, not null"),
        (
            GOOD.replace('"evidence":{"i":0}', '"evidence":[]'),
            "field 'evidence' must be a JSON object, not an array",
        ),
        (GOOD.replace("{", '{"signed":1,', 1), "unexpected field 'signed'"),
        (GOOD.replace("{", '{"seq":3,', 1), "not JSON: duplicate key 'seq'"),
        (GOOD.replace('"time":0.0', '"time":NaN'), "not JSON: NaN is not JSON"),
        (GOOD.replace('"time":0.0', '"time":1e999'), "not JSON: number 1e999 out of range"),
        ("[" * 100_000, "not JSON: nested too deeply"),
    ],
)
def test_malformed_lines_are_named_by_file_and_line(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text(f"{GOOD}\n{line}\n", encoding="utf-8")
    with pytest.raises(AuditFormatError) as caught:
        read_log(path)
    assert str(caught.value) == f"{path}:2: {reason}"
    assert (caught.value.line, caught.value.reason) == (2, reason)


def test_a_line_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(GOOD.encode() + b"\n\xff\xfe\n")
    with pytest.raises(AuditFormatError, match=r"audit.jsonl:2: not UTF-8 text"):
        read_log(path)


# --- tampering ---------------------------------------------------------------------------

LOG = build(10)


def test_an_intact_log_verifies_with_its_anchors() -> None:
    anchors = [(4, LOG[3].hash), (10, LOG[9].hash)]
    assert verify(LOG, anchors) == Verification(True, 10, None, None, 2)
    assert verify([]).ok


def test_an_edited_explanation_in_the_file_is_found(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", LOG)
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace("decision 4", "decision 4 (approved)")
    path.write_text("\n".join(lines) + "\n")
    result = verify(read_log(path))
    assert (result.ok, result.first_bad, result.checked) == (False, 4, 4)
    assert result.reason == "content altered: the entry's fields do not give its hash"


def test_edited_evidence_is_found() -> None:
    entries = list(LOG)
    entries[6] = replace(entries[6], evidence={"i": 7})
    assert verify(entries).first_bad == 6


def test_a_deleted_entry_is_found_where_it_was() -> None:
    result = verify(LOG[:3] + LOG[4:])
    assert result.first_bad == 3
    assert result.reason is not None and result.reason.startswith("out of sequence: seq 4")


def test_swapped_entries_are_found() -> None:
    entries = list(LOG)
    entries[2], entries[3] = entries[3], entries[2]
    assert verify(entries).first_bad == 2


def test_an_inserted_copy_is_found_where_it_was_put() -> None:
    assert verify([*LOG[:5], LOG[7], *LOG[5:]]).first_bad == 5


def test_an_inserted_well_linked_entry_shows_as_a_break_after_it() -> None:
    forged = make_entry(5, 4.5, "SSLAAssessor", "notify", "all clear", {}, LOG[4].hash)
    result = verify([*LOG[:5], forged, *LOG[5:]])
    assert (result.first_bad, result.checked) == (6, 6)
    assert result.reason is not None and "seq 5 where 6 was expected" in result.reason


def test_a_first_entry_not_linked_to_the_genesis_is_found() -> None:
    entry = LOG[0]
    forged = make_entry(0, entry.time, entry.actor, entry.decision, "x", {}, "1" * 64)
    result = verify([forged, *LOG[1:]])
    assert result.first_bad == 0
    assert result.reason == "chain broken: prev is not the genesis (64 zeros)"


def test_a_broken_link_names_the_entry_before() -> None:
    entries = list(LOG)
    entries[3] = make_entry(3, 3.0, "ClosedLoop", "revoke", "decision 3", {"i": 3}, "ab" * 32)
    assert verify(entries).reason == "chain broken: prev is not entry 2's hash"


def test_truncation_is_found_only_against_an_anchor() -> None:
    assert verify(LOG[:6]).ok
    result = verify(LOG[:6], [(8, LOG[7].hash)])
    assert (result.ok, result.first_bad, result.checked) == (False, 6, 6)
    assert result.reason == "truncated: an anchor covers 8 entries, the log holds 6"


def test_a_consistently_rewritten_chain_is_found_only_against_an_anchor() -> None:
    forged = rechain(LOG, 0, "nothing to see")
    assert verify(forged).ok
    result = verify(forged, [(10, LOG[9].hash)])
    assert (result.ok, result.first_bad, result.anchors_confirmed) == (False, 0, 0)
    assert result.reason == (
        "rewritten: the first 10 entries do not end with the anchored head, "
        "so entries 0 to 9 were changed"
    )


def test_a_rewrite_after_a_confirmed_anchor_points_past_it() -> None:
    forged = rechain(LOG, 6, "nothing to see")
    result = verify(forged, [(4, LOG[3].hash), (8, LOG[7].hash)])
    assert (result.first_bad, result.anchors_confirmed, result.checked) == (4, 1, 8)


def test_anchors_cover_at_least_one_entry() -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        verify(LOG, [(0, GENESIS)])


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "seq": st.integers(-5, 50),
    "time": st.floats(allow_nan=False, allow_infinity=False),
    "actor": st.text(min_size=1, max_size=8),
    "decision": st.sampled_from(DECISIONS),
    "explanation": st.text(max_size=20),
    "evidence": st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4)),
    "prev": st.text("0123456789abcdef", min_size=64, max_size=64),
    "hash": st.text("0123456789abcdef", min_size=64, max_size=64),
}


@st.composite
def logs(draw: st.DrawFn) -> list[AuditEntry]:
    log = AuditLog()
    for _ in range(draw(st.integers(1, 12))):
        log.append(
            draw(st.floats(0, 1e6)),
            draw(FIELD_VALUES["actor"]),
            draw(FIELD_VALUES["decision"]),
            draw(FIELD_VALUES["explanation"]),
            draw(FIELD_VALUES["evidence"]),
        )
    return list(log.entries)


@given(entries=logs(), data=st.data())
def test_any_single_field_edit_is_reported_at_its_entry(
    entries: list[AuditEntry], data: st.DataObject
) -> None:
    k = data.draw(st.integers(0, len(entries) - 1), label="k")
    name = data.draw(st.sampled_from(sorted(FIELD_VALUES)), label="field")
    old = getattr(entries[k], name)
    new = data.draw(FIELD_VALUES[name].filter(lambda v: v != old), label="new value")
    entries[k] = replace(entries[k], **{name: new})
    result = verify(entries)
    assert (result.ok, result.first_bad) == (False, k)


# --- anchors on the ledger ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    """An in-process chain: its MLFO deploys the anchor contract, its SECaaS is not its
    owner."""
    return connect(None)


@pytest.fixture(scope="module")
def anchor_client(ledger: Ledger) -> AuditAnchorClient:
    return ledger.deploy_audit_anchor()


def test_log_id_is_the_sha256_of_the_run_id() -> None:
    assert audit_log_id("ddos-6pop-1") == hashlib.sha256(b"ddos-6pop-1").digest()


def test_anchorer_anchors_every_n_entries_and_at_close(
    anchor_client: AuditAnchorClient, tmp_path: Path
) -> None:
    path = tmp_path / "audit-anchors.json"
    log = AuditLog()
    anchorer = Anchorer(log, anchor_client, audit_log_id("every-3"), every=3, path=path)
    for i in range(7):
        log.append(i, "SSLAAssessor", "breach", f"breach {i}")
    assert [a.count for a in anchorer.anchors] == [3, 6]
    assert read_anchors(path).anchors == tuple(anchorer.anchors)
    last = anchorer.close()
    assert last is not None and (last.count, last.head, last.time) == (7, log.head, 6.0)
    assert anchorer.anchor_now() is None  # nothing new since
    on_chain = anchor_client.anchors(audit_log_id("every-3"))
    assert [(r.count, r.head.hex()) for r in on_chain] == read_anchors(path).points()
    assert verify(log.entries, read_anchors(path).points()).anchors_confirmed == 3
    assert anchorer.anchor_file() == read_anchors(path)
    assert read_anchors(path).chain == "memory" and anchorer.failures == []


def test_anchoring_only_when_told(anchor_client: AuditAnchorClient) -> None:
    log = AuditLog()
    anchorer = Anchorer(log, anchor_client, audit_log_id("told"), every=None)
    assert anchorer.close() is None  # an empty log has no head to anchor
    for i in range(5):
        log.append(i, "ClosedLoop", "goal", "g")
    assert anchorer.anchors == []
    anchor = anchorer.anchor_now()
    assert anchor is not None and anchor.count == 5 and anchor.tx_hash.startswith("0x")


def test_a_failing_ledger_does_not_stop_the_log(
    ledger: Ledger, anchor_client: AuditAnchorClient
) -> None:
    """A client the contract refuses (not its owner) stands for a ledger that fails: the
    entries are still appended, the failures kept, and retried `every` entries later."""
    intruder = anchor_client.as_(ledger.secaas)
    log = AuditLog()
    anchorer = Anchorer(log, intruder, audit_log_id("refused"), every=2)
    for i in range(5):
        log.append(i, "ClosedLoop", "alert", "a")
    assert len(log) == 5 and anchorer.anchors == []
    assert [f.split(":")[0] for f in anchorer.failures] == ["entry 1", "entry 3"]
    with pytest.raises(LedgerRevert, match="caller is not the owner"):
        anchorer.anchor_now()


def test_anchorer_arguments_are_checked(anchor_client: AuditAnchorClient) -> None:
    with pytest.raises(ValueError, match="every >= 1"):
        Anchorer(AuditLog(), anchor_client, audit_log_id("x"), every=0)
    with pytest.raises(ValueError, match="32 bytes"):
        Anchorer(AuditLog(), anchor_client, b"short")


SIGNED = {"count": 1, "head": "ab" * 32, "time": 0.0, "tx_hash": "0x" + "ab" * 32, "block": 7}
"""An anchor's fields, to which the notary's are added."""


def anchor_of(entries: list[AuditEntry], count: int) -> Anchor:
    """An anchor of the first `count` entries, as if mined in block 7."""
    return Anchor(count, entries[count - 1].hash, entries[count - 1].time, "0x" + "ab" * 32, 7)


def test_anchors_file_round_trips(tmp_path: Path) -> None:
    signed = replace(anchor_of(LOG, 6), notary=Notarisation("2026-01-01T00:00Z", True, "c" * 128))
    anchors = AnchorFile(
        "http://127.0.0.1:8545",
        "0x" + "12" * 20,
        audit_log_id("run"),
        (anchor_of(LOG, 4), signed),
        "d" * 64,
    )
    assert read_anchors(write_anchors(tmp_path / "a.json", anchors)) == anchors
    assert "notary" not in json.loads((tmp_path / "a.json").read_text())["anchors"][0]


def test_the_statement_is_canonical_json_of_the_anchor_and_its_log() -> None:
    signed = replace(anchor_of(LOG, 4), notary=Notarisation("2026-01-01T00:00Z", False, ""))
    source = AnchorFile("memory", "0x" + "AB" * 20, audit_log_id("run"), (signed,))
    statement = json.loads(statement_bytes(source, signed))
    assert statement == {
        "format": "secmas-audit-notary/1",
        "log_id": "0x" + audit_log_id("run").hex(),
        "chain": "memory",
        "contract": "0x" + "ab" * 20,
        "count": 4,
        "head": LOG[3].hash,
        "time": 3.0,
        "signed_at": "2026-01-01T00:00Z",
        "final": False,
    }
    assert statement_bytes(source, signed) == canonical_json(statement)
    with pytest.raises(ValueError, match="not notarised"):
        statement_bytes(source, anchor_of(LOG, 4))


def test_entries_after_the_sealed_count_are_found() -> None:
    anchors = [(4, LOG[3].hash), (6, LOG[5].hash)]
    assert verify(LOG[:6], anchors, sealed=6).ok
    result = verify(LOG[:8], anchors, sealed=6)
    assert (result.ok, result.first_bad, result.anchors_confirmed) == (False, 6, 2)
    assert result.reason == "appended after the seal: the notary sealed the log at 6 entries"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"format": "other"}, "not an anchors file"),
        ({"chain": 5}, "chain: must be a URL or 'memory'"),
        ({"contract": "0x12"}, "contract: must be an address"),
        ({"log_id": "run"}, "log_id: must be 0x and 64 hex digits"),
        ({"anchors": {}}, "anchors: must be a list"),
        ({"anchors": [1]}, r"anchors\[0\]: not a JSON object"),
        ({"anchors": [{"count": 0}]}, r"anchors\[0\].count: must be an integer >= 1"),
        ({"anchors": [{"count": 1, "head": "AB" * 32}]}, r"anchors\[0\].head: must be 64"),
        ({"anchors": [{**SIGNED, "notary": 1}]}, r"anchors\[0\].notary: not a JSON object"),
        ({"anchors": [{**SIGNED, "notary": {}}]}, r"anchors\[0\].notary.signed_at: must be"),
        (
            {"anchors": [{**SIGNED, "notary": {"signed_at": "t", "final": 1}}]},
            r"anchors\[0\].notary.final: must be true or false",
        ),
        (
            {"anchors": [{**SIGNED, "notary": {"signed_at": "t", "final": True}}]},
            r"anchors\[0\].notary.signature: must be 128",
        ),
        ({"notary_key": "k"}, "notary_key: must be 64 lowercase hex digits"),
    ],
)
def test_malformed_anchors_files_are_named(
    tmp_path: Path, change: dict[str, Any], reason: str
) -> None:
    path = write_anchors(
        tmp_path / "a.json",
        AnchorFile("memory", "0x" + "12" * 20, audit_log_id("run"), (anchor_of(LOG, 2),)),
    )
    data = {**json.loads(path.read_text()), **change}
    path.write_text(json.dumps(data))
    with pytest.raises(AuditFormatError, match=f"a.json: {reason}"):
        read_anchors(path)
