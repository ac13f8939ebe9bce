"""The emulated MTD loop's pure parts: which migration carries out a planned method, the
state a CNF's load gives it, and the quota verdict per move on the measured downtime."""

from __future__ import annotations

import pytest

from secmas.mtd.emulated import judge_moves, migration_of, shape_of
from secmas.mtd.migration import DEFAULT_MODEL, Load


def test_every_planned_method_runs_as_its_own_migration() -> None:
    for method in ("cold", "pre-copy", "post-copy", "hybrid"):
        assert migration_of(method) == method
    with pytest.raises(ValueError):
        migration_of("teleport")


def test_the_state_follows_the_models_load() -> None:
    # 12 MB at scale 0.025 = 300 kB = 73 pages; dirty rate 0.08 · 0.3 · 12 = 0.288 MB/s
    # → 7 200 B/s; disk 0.2 MB/s → 5 000 B/s
    shape = shape_of(Load(cpu=0.3, memory_mb=12, disk_mbps=0.2, net_mbps=1.0), 0.025)
    assert shape.sessions == 73
    assert shape.dirty_bytes_per_s == pytest.approx(7_200)
    assert shape.log_bytes_per_s == pytest.approx(5_000)
    assert shape.working_set == DEFAULT_MODEL.working_set


def move(cnf: str, k: int, arrived: float | None, predicted: float, measured: float | None):
    return {
        "cnf": cnf,
        "k": k,
        "outcome": "moved" if arrived is not None else "not due",
        "arrived_at": arrived,
        "predicted_downtime_s": predicted,
        "measured_downtime_s": measured,
    }


def test_the_quota_verdict_is_on_the_measured_downtime_in_arrival_order() -> None:
    # web: budget 1.0 s; predicted 0.2 s a move, measured 0.5 then 0.6: the second
    # move takes it to 1.1 s, over, though the predictions sum to 0.4 s
    moves = [
        move("web", 2, 20.0, 0.2, 0.6),
        move("web", 1, 10.0, 0.2, 0.5),
        move("api", 1, 11.0, 0.9, 0.3),
        move("api", 2, None, 0.9, None),
    ]
    judge_moves(moves, {"web": 1.0, "api": 1.0})
    assert [m["within_quota"] for m in moves] == [False, True, True, None]
