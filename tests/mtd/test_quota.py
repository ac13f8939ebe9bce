"""MTD quota from the availability SLA, hand-computed."""

from __future__ import annotations

import pytest

from secmas.mtd.quota import Quota, downtime_budget, migrations_within, mtd_quota

DAY = 86400.0
MONTH = 30 * DAY


def test_99_95_percent_over_30_days_with_2_s_per_migration() -> None:
    assert downtime_budget(0.9995, MONTH) == pytest.approx(1296.0)
    assert mtd_quota(0.9995, MONTH, 2.0) == 648


@pytest.mark.parametrize(
    ("availability", "window", "per_migration", "expected"),
    [
        (0.9995, MONTH, 1.296, 1000),  # exact multiple, no rounding loss
        (0.9995, MONTH, 3.0, 432),
        (0.9995, MONTH, 7.0, 185),  # 1296 / 7 = 185.14
        (0.999, DAY, 0.5, 172),  # 86.4 s / 0.5 = 172.8
        (0.9999, MONTH, 3.0, 86),  # 259.2 s / 3 = 86.4
        (0.9995, 7 * DAY, 2.0, 151),  # 302.4 s / 2
        (1.0, MONTH, 1.0, 0),
    ],
)
def test_quota_by_hand(availability, window, per_migration, expected) -> None:
    assert mtd_quota(availability, window, per_migration) == expected


def test_used_downtime_reduces_the_quota() -> None:
    assert downtime_budget(0.9995, MONTH, used_s=296.0) == pytest.approx(1000.0)
    assert mtd_quota(0.9995, MONTH, 2.0, used_s=296.0) == 500
    assert mtd_quota(0.9995, MONTH, 2.0, used_s=5000.0) == 0
    q = Quota.of(0.9995, MONTH, 2.0)
    assert (q.budget_s, q.migrations) == (pytest.approx(1296.0), 648)
    assert migrations_within(1296.0, 2.0) == 648


@pytest.mark.parametrize(
    "args", [(1.5, MONTH, 2.0), (0.99, -1.0, 2.0), (0.99, MONTH, 0.0), (0.99, MONTH, float("nan"))]
)
def test_bad_inputs(args) -> None:
    with pytest.raises(ValueError):
        mtd_quota(*args)
