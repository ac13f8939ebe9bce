"""A server's port is drawn below the kernel's ephemeral range, where no outgoing
connection can take it between the draw and the server's bind."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from secmas import listenport
from secmas.listenport import LOWEST, ephemeral_start, free_port


def test_the_port_lies_below_the_ephemeral_range_and_can_be_bound() -> None:
    port = free_port()
    assert LOWEST <= port < ephemeral_start()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))


def test_a_range_read_from_proc_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = tmp_path / "ip_local_port_range"
    proc.write_text("40000\t60999\n")
    monkeypatch.setattr(listenport, "EPHEMERAL_RANGE", proc)
    assert ephemeral_start() == 40000
    assert LOWEST <= free_port() < 40000


def test_without_room_below_the_range_the_kernel_picks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = tmp_path / "ip_local_port_range"
    proc.write_text("1024\t65000\n")
    monkeypatch.setattr(listenport, "EPHEMERAL_RANGE", proc)
    assert 1024 <= free_port() <= 65000


def test_an_unreadable_range_falls_back_to_linux_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(listenport, "EPHEMERAL_RANGE", tmp_path / "missing")
    assert ephemeral_start() == 32768
