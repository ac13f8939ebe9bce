"""An agent that runs as a container inside its PoP on the emulated network has files of
its container patched while it runs: a start-up hook planted beside its libraries and a
library it runs (the NATS client) altered, through the container's root on the host
(`podman mount`), as the host's root or an escape from another container could.

The agent's own measurement covers the secmas package (its live code and its files), not
the rest of the image; this host's measurer reads the files of this host, not those of
the container. Only the check of the running container against the image's reference,
which the run gives the attestation chain for agents in containers, sees the patch: the
agent fails its next mutual attestation on the external check alone, is revoked, and the
others stay trusted. Needs root, podman, mmdebstrap, Mininet, nftables and nats-server
(skipped otherwise, naming what is missing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.containers import Reference, containers_in_pops
from tests.e2e.agents_in_pops import NEEDS, run_in_pops
from tests.network.emulation.conftest import line_scenario

from secmas.deploy.image import AgentImage
from secmas.deploy.podman import podman

pytestmark = NEEDS

PATCHED = "B"
PATCH_AT = 3.0
PERIOD = 2.0
SITE = "/usr/local/lib/python3.11/dist-packages"
LIBRARY = f"{SITE}/nats/aio/client.py"
HOOK = f"{SITE}/zz-hook.pth"


def short_scenario() -> Any:
    """The line network for 20 s, a mutual attestation step every 2 s: each of the four
    agents is attested again within 8 s of the patch."""
    scenario = line_scenario(security={"enabled": True, "attestation": {"period": PERIOD}})
    traffic = scenario.traffic.model_copy(update={"duration": 20})
    return scenario.model_copy(update={"traffic": traffic})


def patch(container: str) -> None:
    """Alter a library and plant a start-up hook in the running container's root."""
    root = Path(podman(["mount", container]).strip())
    try:
        with (root / LIBRARY.lstrip("/")).open("a") as code:
            code.write("\n__import__('os').system('id')  # implant\n")
        (root / HOOK.lstrip("/")).write_text("import os\n")
    finally:
        podman(["unmount", container])


def test_a_container_agent_patched_while_it_runs_is_revoked(
    agent_image: AgentImage, image_reference: Reference, tmp_path: Path
) -> None:
    scenario = short_scenario()
    patched_at: list[float] = []

    def attack(now: float, _duration: float) -> None:
        if now >= PATCH_AT and not patched_at:
            patch(drivers[0].agents[PATCHED].agent)
            patched_at.append(now)

    with containers_in_pops(agent_image, image_reference) as (agents, drivers):
        result = run_in_pops(scenario, tmp_path, attack, agents)
    assert patched_at, "the run ended before the patch"
    trust = result.trust
    assert trust is not None
    failed = [e for e in trust["attestations"] if e["result"] == "fail"]
    assert [e["measured"] for e in failed] == [PATCHED], trust["attestations"]
    [caught] = failed
    assert caught["time"] >= patched_at[0]
    assert caught["differing"] == []  # its own measurement passed: the external check failed it
    assert caught["revoke_tx"] is not None
    external = trust["external_measurement"]
    assert external["measured_by"].startswith("container check")
    assert {f["agent"] for f in external["failed"]} == {PATCHED}
    reported = next(f for f in external["failed"] if f["agent"] == PATCHED)
    # The patch is two writes, and a check walking the container's root meanwhile sees
    # the one it reaches after its write (a suite saw the library changed, the hook's
    # folder listed before the hook was planted); either fails the agent on its own.
    seen = set(reported["reasons"])
    assert seen and seen <= {f"changed {LIBRARY}", f"extra {HOOK}"}, seen
    assert any(f"external measurement: {reason}" in caught["reasons"] for reason in seen)
    assert {p for p, a in trust["agents"].items() if not a["trusted"]} == {PATCHED}
