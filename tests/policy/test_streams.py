"""The measurement sources: records from a real data plane, the wire tap's classification."""

from __future__ import annotations

from pathlib import Path

import pytest

from secmas.agents.acl import ACLMessage, Performative
from secmas.network.dataplane import DataPlane, FlowBlock
from secmas.policy.streams import SliceTap, SliceView, cnf_up, message_record, split_source
from secmas.scenario.loader import load_scenario
from secmas.transport.channel import frame_sender

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "spoofed-injection.yaml")
SERVER = "10.0.0.100"


def tap() -> tuple[DataPlane, SliceTap]:
    plane = DataPlane(SCENARIO)
    return plane, SliceTap(plane, SliceView.of(SCENARIO, SCENARIO.slices[0]))


def test_source_names_split_at_the_last_dot() -> None:
    assert split_source("protected-web.ingress") == ("protected-web", "ingress")
    assert split_source("a.b.agent-bus") == ("a.b", "agent-bus")
    with pytest.raises(ValueError, match=r"not <slice>\.<kind>"):
        split_source("ingress")


def test_ingress_records_show_forged_sources_and_where_they_enter() -> None:
    plane, slice_tap = tap()
    plane.run_until(61)
    records = slice_tap.step()["ingress"]
    forged = {r["source_ip"]: r for r in records if r["source_ip"].startswith("203.0.113.")}
    assert sorted(forged) == [f"203.0.113.{i}" for i in range(1, 7)]
    first = forged["203.0.113.1"]
    assert first["ingress"] == "pop1" and first["destination_ip"] == SERVER
    # 0.02 MB/s of 200-byte datagrams: about 100 packets a second (±10 % jitter).
    assert 90 <= first["packets"] <= 110
    assert first["bytes"] == pytest.approx(first["packets"] * 200)
    assert all(r["source_ip"].startswith(("10.1.", "203.0.113.")) for r in records)


def test_rejected_records_count_what_a_block_drops() -> None:
    plane, slice_tap = tap()
    plane.run_until(61)
    rule = plane.add_rule(FlowBlock("pop1", "203.0.113.1", SERVER))
    plane.step()
    step = slice_tap.step()
    [dropped] = step["rejected"]
    assert dropped["source_ip"] == "203.0.113.1" and dropped["node"] == "pop1"
    assert dropped["rule"] == "FlowBlock" and 90 <= dropped["packets"] <= 110
    assert "203.0.113.1" not in {r["source_ip"] for r in step["ingress"]}
    assert plane.dropped(rule) == pytest.approx(dropped["packets"])
    assert plane.dropped(999) == 0.0


def test_availability_counts_up_seconds() -> None:
    plane, slice_tap = tap()
    values = []
    for _ in range(5):
        plane.step()
        values.append(slice_tap.availability())
    assert values == [100.0] * 5
    assert cnf_up({"error_rate": 0.05}) and not cnf_up({"error_rate": 0.051})


def test_placements_carry_the_pop_region() -> None:
    plane, slice_tap = tap()
    plane.step()
    [replica] = slice_tap.step()["placements"]
    assert replica == {"cnf": "web", "pop": "pop6", "region": "unknown"}


def test_the_wire_tap_tells_sealed_frames_from_clear_messages() -> None:
    clear = ACLMessage(Performative.INFORM, "pop3", ("pop1",), "c-1", {"a": 1}).encode()
    record = message_record("nfva.pop1", clear, vni=42)
    assert record == {
        "subject": "nfva.pop1",
        "sender": "pop3",
        "encrypted": False,
        "bytes": len(clear),
    }
    header = bytes([1]) + (42).to_bytes(3, "big") + bytes([4]) + b"pop2"
    sealed = header + (1).to_bytes(4, "big") + (7).to_bytes(8, "big") + b"\x00" + bytes(40)
    assert frame_sender(sealed, 42) == "pop2"
    assert frame_sender(sealed, 43) is None  # another segment's frame
    assert frame_sender(sealed[:20], 42) is None  # no room for the tag
    assert message_record("nfva.pop1", sealed, 42)["encrypted"] is True
    assert message_record("nfva.x", b"\xff\x00garbage", 42)["sender"] == "unknown"
