"""Scenarios built from a size instead of a file: the ring of Section 5.4.3 of `003_…`.

003 measured memory and NFV-A messages on rings "so that we could easily automate the
simulation to add more NFVI-PoPs to the loop", with unlimited PoP resources and link
bandwidth so that only the agents are measured, not their placement. `benchmarks/
bench_ring.py` and `secmas sweep` (`scenarios: [{ring: N}]`) both build it here.
"""

from __future__ import annotations

from collections.abc import Callable

from secmas.scenario.ddos import LINK_MONITOR, ddos_catalogue, ddos_goals
from secmas.scenario.model import Scenario

UNLIMITED = {"cpu": 100_000, "memory": 100_000, "disk": 1_000_000}
BANDWIDTH = 100_000.0  # MB/s: no link is ever the bottleneck
LATENCY = 0.05  # ms per ring link: 500 hops stay under the 100 ms rate-limit constraint
ATTACK_RATE = 4.0  # MB/s from the single attacker: ~2 MB/s background + 4 > threshold 4
DURATION = 120.0  # simulated seconds; the strategy is over well before (attack at 20 s)
MIN_RING = 3
"""Fewest PoPs of a ring: the server's, the repository's and the attacker's."""
MAX_RING = 2000
"""Most PoPs of a generated ring (every auction asks every agent: 1000 take ~25 s)."""


def ring_scenario(n: int, seed: int = 0) -> Scenario:
    """A ring pop0 … pop(n−1) with unlimited PoPs and links, server behind pop0 (whose
    agent runs the Link Monitor), the repository at pop1, clients spread over the ring and
    one attacker a third of the way round."""
    if not MIN_RING <= n <= MAX_RING:
        raise ValueError(f"a ring has {MIN_RING} to {MAX_RING} PoPs, not {n}")
    pops = [f"pop{i}" for i in range(n)]
    ring = [
        {"a": pops[i], "b": pops[(i + 1) % n], "bandwidth": BANDWIDTH, "latency": LATENCY}
        for i in range(n)
    ]
    clients = sorted({pops[max(1, (k * n) // 4)] for k in (1, 2, 3)})
    attacker = pops[max(2, n // 3)]
    return Scenario.model_validate(
        {
            "id": f"ring-{n}",
            "description": f"ring of {n} PoPs, unlimited resources, one attacker",
            "seed": seed,
            "pops": [{"id": p, **UNLIMITED} for p in pops],
            "hosts": [{"id": "server", "attach": "pop0", "ip": "10.0.0.100"}],
            "links": [
                *ring,
                {"a": "pop0", "b": "server", "bandwidth": BANDWIDTH, "latency": 1.0},
            ],
            "repository": {"attach": "pop1"},
            "vnfs": [v.model_dump() for v in ddos_catalogue()],
            "goals": [g.model_dump() for g in ddos_goals()],
            "placements": [{"vnf": LINK_MONITOR, "pop": "pop0"}],
            "traffic": {
                "server": "server",
                "duration": DURATION,
                "step": 1,
                "background": {
                    "hosts": 50,
                    "http_per_video": 5,
                    "video_rate": 0.15,
                    "http_rate": 0.02,
                    "attach": clients,
                },
            },
            "attack": {"attackers": 1, "rate": ATTACK_RATE, "start": 20, "attach": [attacker]},
            "defence": {
                "monitor": {"pop": "pop0", "link": ["pop0", "server"], "threshold": 4.0},
            },
        }
    )


GENERATORS: dict[str, Callable[[int, int], Scenario]] = {"ring": ring_scenario}
"""Generator name → (size, seed) → scenario, as a sweep spec names them."""
