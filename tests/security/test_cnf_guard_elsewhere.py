"""A Slowloris against a CNF instance that runs in another PoP than the service address:
the instance sees the CNF's front as the source of every connection it serves, so the
guard must count what each source holds where both directions of its connections pass,
at the front, and catch the attacker there while the users go on being served.

Needs root, namespaces, Mininet, nftables, a cgroup hierarchy and Debian's nginx.
"""

from __future__ import annotations

import asyncio
import sys
import time

from tests.network.emulation.cnfbed import NEEDS_CNF, Bed
from tests.network.emulation.conftest import SERVER

pytestmark = NEEDS_CNF

HOLD = """
import socket, sys, time
server, source, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
held = []
for _ in range(count):
    connection = socket.socket()
    connection.bind((source, 0))
    connection.settimeout(2)
    connection.connect((server, 8000))
    connection.sendall(b"GET /bytes/100 HTTP/1.1\\r\\nHost: cnf\\r\\n")  # never finished
    held.append(connection)
time.sleep(seconds)
"""
"""Holds `count` connections from `source`, each with a request head it never finishes."""

HELD = 20
"""More than the guard lets a source hold (8), fewer than its burst of new ones (40)."""


def test_a_slowloris_on_an_instance_elsewhere_is_caught_at_the_front(bed: Bed) -> None:
    bed.cnf.remedy("migrate", "B")  # every connection now crosses the front to B
    asyncio.run(bed.controller.remedy("web", "guard", "D"))
    clients = bed.network.plan.groups[0].clients
    attacker = clients[1].ip
    assert attacker != clients[0].ip  # the users fetch from the first client
    command = [sys.executable, "-c", HOLD, SERVER, attacker, str(HELD), "20"]
    process = bed.network.spawn(bed.client, command)
    try:
        time.sleep(2.0)
        assert process.poll() is None  # it holds them
        defence = bed.cnf.defence
        assert defence is not None
        swept = defence.sweep()
        _, offenders = defence.guard_state()
        assert attacker in swept and offenders == [attacker]
        assert bed.fetch(3) == 3  # the users are served on
    finally:
        process.kill()
        process.wait()
