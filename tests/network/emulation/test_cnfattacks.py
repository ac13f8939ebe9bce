"""Attacks on the emulated CNF at a share of their size (network.emulation.cnfattacks)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from secmas.network.emulation.cnfattacks import FULL_LEAK_MB_S, AttackSettings, inside_command
from secmas.network.emulation.memleak import leak, main


def test_attacks_scaled_to_three_per_cent_of_their_size() -> None:
    weak = AttackSettings().scaled(0.03)
    # 300 requests/s, 900 held connections opened at 200/s, 1500 SYNs/s, 95 % of a core,
    # 4 KiB a realloc: each × 0.03, rounded where it counts whole things.
    assert weak.http_rps == pytest.approx(9.0)
    assert weak.slowloris_connections == 27
    assert weak.slowloris_opening == pytest.approx(6.0)
    assert weak.syn_pps == pytest.approx(45.0)
    assert weak.cpu_load == 3
    assert weak.leak_mb_s == pytest.approx(0.03 * FULL_LEAK_MB_S)
    assert AttackSettings().scaled(1.0) == AttackSettings()


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_an_attack_size_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="attack size"):
        AttackSettings().scaled(share)


def test_a_weak_leak_is_throttled_where_stress_ng_cannot_leak_less() -> None:
    """stress-ng refuses a bigheap growth under 4 KiB and reallocs as fast as it can: the
    full-size leak is stress-ng's, a share of it the throttled leak."""
    full = inside_command("high_memory", AttackSettings(), "/usr/bin/stress-ng")
    assert full[:3] == ["/usr/bin/stress-ng", "--bigheap", "1"]
    weak = inside_command("high_memory", AttackSettings().scaled(0.1), "/usr/bin/stress-ng")
    assert weak[-2:] == ["secmas.network.emulation.memleak", f"{0.1 * FULL_LEAK_MB_S:g}"]


def test_the_throttled_leak_holds_its_rate() -> None:
    held = leak(20.0, seconds=0.5)
    assert 4 <= len(held) <= 6  # a chunk every 0.1 s
    assert sum(map(len, held)) == pytest.approx(len(held) * 2 * 2**20, rel=0.01)


def resident_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def test_the_leak_process_grows_resident_memory_until_stopped() -> None:
    command = [sys.executable, "-m", "secmas.network.emulation.memleak", "40"]
    process = subprocess.Popen(command)
    try:
        time.sleep(1.0)
        first = resident_mb(process.pid)
        time.sleep(1.5)
        grown = resident_mb(process.pid) - first
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert 30 <= grown <= 90  # 40 MB/s over 1.5 s, give or take a busy machine


@pytest.mark.parametrize("argv", [[], ["0"], ["-3"], ["fast"], ["1", "2"]])
def test_the_leak_refuses_a_rate_it_cannot_hold(argv: list[str]) -> None:

    assert main(argv) == 2
