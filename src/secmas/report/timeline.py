"""timeline.png: traffic from the switch to the server over time (as Figure 5.4), from the
simulator's flows or, on the emulated engine, from real counters (scenario MB/s)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from secmas.agents.journal import ActionEvent
from secmas.network.dataplane import Telemetry

MARKED = {
    "limitLink": "link limited",
    "unlinkRateLimited": "link limit removed",
    "detectIntrusion": "target found",
    "limitIP": "IP limited",
    "splitTrafficIP": "traffic split",
    "splitTrafficLink": "link split",
    "classifyFlows": "flows classified",
    "unipRateLimited": "IP limit removed",
}


def plot_timeline(
    telemetry: Sequence[Telemetry],
    actions: Sequence[ActionEvent],
    attack_window: tuple[float, float] | None,
    path: Path,
    title: str,
) -> None:
    """Delivered legitimate, attack and total MB/s, the attack window and mitigations."""
    t = [x.t for x in telemetry]
    legit = [x.legit for x in telemetry]
    attack = [x.attack for x in telemetry]
    fig = Figure(figsize=(10, 4.8))
    ax = fig.subplots()
    ax.plot(
        t,
        [a + b for a, b in zip(legit, attack, strict=True)],
        color="black",
        lw=1.6,
        label="total to server",
    )
    ax.plot(t, legit, color="tab:green", lw=1.2, label="legitimate")
    ax.plot(t, attack, color="tab:red", lw=1.2, label="attack")
    if attack_window is not None:
        ax.axvspan(*attack_window, color="tab:red", alpha=0.06, label="attack window")
    top = max([a + b for a, b in zip(legit, attack, strict=True)] + [1.0]) * 1.05
    first_block = next((a for a in actions if a.action == "blockFlow"), None)
    marks = [a for a in actions if a.action in MARKED]
    if first_block is not None:
        marks.append(first_block)
    for index, action in enumerate(sorted(marks, key=lambda a: a.time)):
        label = MARKED.get(action.action, "flows blocked")
        ax.axvline(action.time, color="tab:blue", ls=":", lw=0.9)
        ax.text(
            action.time,
            top * (0.97 - 0.07 * (index % 6)),
            f" {label} ({action.agent})",
            fontsize=7,
            color="tab:blue",
            va="top",
        )
    ax.set_ylim(0, top)
    ax.set_xlim(0, t[-1] if t else 1)
    ax.set_xlabel("time (s): simulated, or wall time on the emulated engine")
    ax.set_ylabel("MB/s from the switch to the server")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
