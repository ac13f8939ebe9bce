"""The table of MTD moves that really happened (emulated data plane): what the migration
model predicted on the path the auction chose beside what the probe measured."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def measured_moves_table(mtd: dict[str, Any]) -> Table:
    """One row per move that happened: predicted vs measured downtime and total time,
    and whether the CNF's measured downtime so far is within its budget."""
    probe = mtd.get("probe") or {}
    table = Table(
        title="MTD moves really made: predicted / measured (a probe request every "
        f"{probe.get('interval_s', 0) * 1000:g} ms; the quota is judged on the measured downtime)"
    )
    for column in ("CNF", "k", "method", "move", "downtime s", "total s", "state", "quota"):
        table.add_column(column, no_wrap=True, min_width=8 if column == "method" else None)
    for move in mtd["moves"]:
        if move.get("measured_downtime_s") is None:
            continue
        method = move["method"]
        if move["migration"] != method:
            method += f" (ran {move['migration']})"
        state = f"{move['state_bytes'] / 1e3:.0f}k" + (" ✓" if move["state_verified"] else " ✗")
        table.add_row(
            move["cnf"],
            str(move["k"]),
            method,
            f"{move['source']}→{move['destination']}",
            f"{_seconds(move['predicted_downtime_s'])} / {_seconds(move['measured_downtime_s'])}",
            f"{_seconds(move['predicted_total_s'])} / {_seconds(move['measured_total_s'])}",
            state,
            "ok" if move["within_quota"] else "OVER",
        )
    return table
