"""Interface counters over rtnetlink: the dump's parsing (pure, fed hand-made and random
bytes) and a live read that agrees with `ip -s link`."""

from __future__ import annotations

import json
import struct
import subprocess
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.network.emulation.linkstats import (
    ETHERNET_HEADER,
    IFINFOMSG,
    IFLA_IFNAME,
    IFLA_STATS64,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_HEADER,
    RTATTR,
    RTM_GETLINK,
    RTM_NEWLINK,
    LinkStatsSocket,
    link_dump_request,
    parse_link_dump,
)


def _attribute(kind: int, value: bytes) -> bytes:
    padded = value + b"\0" * (-len(value) % 4)
    return RTATTR.pack(RTATTR.size + len(value), kind) + padded


def _message(kind: int, sequence: int, body: bytes) -> bytes:
    return NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), kind, 2, sequence, 0) + body


def _link(name: str, rx: tuple[int, int], tx: tuple[int, int], sequence: int = 7) -> bytes:
    """An RTM_NEWLINK with `name` and its (packets, bytes) received and sent."""
    stats = struct.pack("=QQQQ", rx[0], tx[0], rx[1], tx[1]) + b"\0" * 160
    attrs = _attribute(IFLA_IFNAME, name.encode() + b"\0") + _attribute(IFLA_STATS64, stats)
    return _message(RTM_NEWLINK, sequence, IFINFOMSG.pack(0, 1, 2, 0, 0) + attrs)


def test_a_dump_request_asks_for_every_link() -> None:
    request = link_dump_request(9)
    length, kind, flags, sequence, _ = NLMSG_HEADER.unpack_from(request)
    assert (length, kind, sequence) == (len(request), RTM_GETLINK, 9)
    assert flags & 0x300 == 0x300  # NLM_F_DUMP


def test_a_dump_gives_each_links_ip_bytes_and_says_when_it_ended() -> None:
    data = _link("s1-eth0", rx=(3, 1000), tx=(10, 740)) + _link("lo", (0, 0), (0, 0))
    links, done = parse_link_dump(data, 7)
    assert not done
    # IP bytes: each packet's Ethernet header taken off, as nftables counts
    assert links["s1-eth0"] == (740 - 10 * ETHERNET_HEADER, 1000 - 3 * ETHERNET_HEADER)
    assert links["lo"] == (0, 0)
    ended, done = parse_link_dump(_message(NLMSG_DONE, 7, b"\0" * 4), 7)
    assert (ended, done) == ({}, True)


def test_another_requests_answer_is_skipped() -> None:
    links, done = parse_link_dump(_link("old", (1, 100), (1, 100), sequence=6), 7)
    assert (links, done) == ({}, False)


def test_an_error_answer_and_a_truncated_message_are_refused() -> None:
    error = _message(NLMSG_ERROR, 7, struct.pack("=i", -1) + b"\0" * 16)
    with pytest.raises(ValueError, match="errno 1"):
        parse_link_dump(error, 7)
    with pytest.raises(ValueError, match="truncated"):
        parse_link_dump(_link("s1-eth0", (1, 1), (1, 1))[:-8], 7)


def test_an_attribute_that_overruns_its_message_is_refused() -> None:
    bad = RTATTR.pack(200, IFLA_IFNAME) + b"eth0"
    with pytest.raises(ValueError, match="overruns"):
        parse_link_dump(_message(RTM_NEWLINK, 7, IFINFOMSG.pack(0, 1, 2, 0, 0) + bad), 7)


@given(st.binary(max_size=512))
def test_any_bytes_parse_or_are_refused_with_a_value_error(data: bytes) -> None:
    try:
        links, _ = parse_link_dump(data, 7)
    except ValueError:
        return
    assert all(isinstance(name, str) for name in links)


def test_a_live_read_agrees_with_ip_and_is_stamped_when_read() -> None:
    stats = LinkStatsSocket.open_here(time.monotonic)
    try:
        before = stats.read()
        shown = json.loads(
            subprocess.run(["ip", "-j", "-s", "link"], capture_output=True, check=True).stdout
        )
        after = stats.read()
    finally:
        stats.close()
    assert before.at <= after.at <= time.monotonic()
    assert set(before.tx) == {link["ifname"] for link in shown}
    for link in shown:
        sent = link["stats64"]["tx"]
        ip_bytes = sent["bytes"] - ETHERNET_HEADER * sent["packets"]
        assert before.tx[link["ifname"]] <= ip_bytes <= after.tx[link["ifname"]]


def test_a_closed_socket_reads_no_more() -> None:
    stats = LinkStatsSocket.open_here(time.monotonic)
    stats.close()
    with pytest.raises(OSError):
        stats.read()
