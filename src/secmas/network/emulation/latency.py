"""Link latency on the emulated network: what this kernel offers to delay real packets.

A scenario link has a latency L (ms): the agents' infrastructure model reads it, and every
bid's D term adds it up along the path (`003_…`, Eq. 3.1). Delaying the emulated links'
packets by L takes a delay qdisc, netem; HTB, which shapes them, queues but never holds a
packet back for a time. Where netem is there each emulated link delays by its L at both
ends (one way: L), through Mininet's `TCLink(delay=…)`; where it is not, as on the
kernels this project is built and tested on, no packet is delayed and the run says so:
L, and the D of every bid with it, stay the model's (`report.json` →
`emulation.link_latency`, and a line of the run's output).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NETEM = "sch_netem"
MODELLED = "each link's latency L and every bid's D term are the scenario's model"


def netem_missing(
    release: str | None = None,
    modules: Path = Path("/lib/modules"),
    loaded: Path = Path("/sys/module"),
) -> str | None:
    """None when netem is loaded, built in or installed (the kernel loads it on first
    use), else why not. `/sys/module` lists loaded and built-in modules alike."""
    if (loaded / NETEM).exists():
        return None
    release = release or os.uname().release
    tree = modules / release
    builtin = tree / "modules.builtin"
    if builtin.exists() and f"/{NETEM}.ko" in builtin.read_text(errors="replace"):
        return None
    sched = tree / "kernel" / "net" / "sched"
    if sched.is_dir() and any(sched.glob(f"{NETEM}.ko*")):
        return None
    return f"kernel {release} has no netem (no {NETEM} module), so no qdisc delays a packet"


@dataclass(frozen=True)
class LinkLatency:
    """Whether the emulated links delay their packets by the scenario's latencies; `why`
    not, when they do not."""

    why: str | None

    @classmethod
    def of_this_kernel(cls) -> LinkLatency:
        return cls(netem_missing())

    @property
    def emulated(self) -> bool:
        return self.why is None

    def link_options(self, latency_ms: float) -> dict[str, Any]:
        """What a `TCLink` of latency `latency_ms` is given beyond its bandwidth."""
        return {"delay": f"{latency_ms:g}ms"} if self.emulated and latency_ms > 0 else {}

    def describe(self) -> dict[str, Any]:
        """report.json's `emulation.link_latency`, with the line the run prints when the
        links do not delay (`said`, None when they do)."""
        if self.emulated:
            return {"emulated": True, "by": "netem", "why": None, "said": None}
        said = f"link latency not emulated ({self.why}): {MODELLED}"
        return {"emulated": False, "by": None, "why": self.why, "said": said}
