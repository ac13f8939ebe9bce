"""Agents as processes inside their PoPs on the emulated network, the trust layer on: a
short real-time run of the emulated reference scenario, judged from real counters.

Each PoP's `secmas agent` runs inside its PoP's namespace and reaches the run's NATS
server (TLS, nkeys) and ledger (HTTPS) on the control host over the emulated links; the
data plane is real (a SYN flood from raw sockets, nftables rules), served to the agents
by the MLFO's controller over the bus. Needs root, Mininet, nftables (CI has them) and
nats-server; skipped otherwise, naming what is missing. Nothing is left behind, even when
the run fails: the run takes its network, names and processes down itself, and the test
checks it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.agents_in_pops import (
    NEEDS,
    Seen,
    check_defended_from_pops,
    nothing_left,  # noqa: F401 (a fixture)
    run_in_pops,
    short_scenario,
)

pytestmark = NEEDS


@pytest.mark.usefixtures("nothing_left")
def test_agents_in_their_pops_cut_a_real_flood_over_the_emulated_links(tmp_path: Path) -> None:
    scenario = short_scenario()
    seen = Seen()
    result = run_in_pops(scenario, tmp_path, lambda _now, _duration: seen.look())
    trust = check_defended_from_pops(result, scenario, seen)

    # every agent attested, its channel sealed, measured from outside
    assert [e["kind"] for e in trust["attestations"][:6]] == ["initial"] + ["mutual"] * 5
    # each agent ran as a process
    plane = result.emulation["control_plane"]
    assert plane["agents_as"]["kind"] == "processes"  # the default (containers: the caller's)
