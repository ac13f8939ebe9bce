"""Attacks on the emulated CNF at a share of their size (network.emulation.cnfattacks)."""

from __future__ import annotations

import pytest

from secmas.network.emulation.cnfattacks import AttackSettings, growth_bytes


def test_attacks_scaled_to_three_per_cent_of_their_size() -> None:
    weak = AttackSettings().scaled(0.03)
    # 300 requests/s, 900 held connections opened at 200/s, 1500 SYNs/s, 95 % of a core,
    # 4 KiB a realloc: each × 0.03, rounded where it counts whole things.
    assert weak.http_rps == pytest.approx(9.0)
    assert weak.slowloris_connections == 27
    assert weak.slowloris_opening == pytest.approx(6.0)
    assert weak.syn_pps == pytest.approx(45.0)
    assert weak.cpu_load == 3
    assert weak.leak_growth == "123"
    assert AttackSettings().scaled(1.0) == AttackSettings(leak_growth="4096")


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_an_attack_size_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="attack size"):
        AttackSettings().scaled(share)


def test_stress_ng_sizes_in_bytes() -> None:
    assert [growth_bytes(s) for s in ("4K", "1m", "2G", "512")] == [4096, 1 << 20, 2 << 30, 512]
