"""The moving CNF's own load, in this process on loopback (no emulated network needed):
its writer dirties the working set and rotates its log, an instance that took over a
state keeps writing it where its source stopped, and a frozen instance changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from secmas.network.emulation.kvcnf import Instance, InstanceConfig


def config(tmp_path: Path, name: str, seed_state: bool) -> InstanceConfig:
    return InstanceConfig(
        name=name,
        address="127.0.0.1",
        pop_address="127.0.0.1",
        control=str(tmp_path / f"{name}.sock"),
        token="t",
        sessions=40,
        seed_state=seed_state,
        value_bytes=100,
        working_set=0.5,
        dirty_bytes_per_s=20_000,  # 10 sessions a 50 ms tick
        log_bytes_per_s=2_000,
        log_window_s=0.1,  # two log entries kept
    )


def test_the_writer_dirties_the_working_set_and_rotates_the_log(tmp_path: Path) -> None:
    async def run() -> tuple[set[int], list[str], list[str], int, int]:
        source = Instance(config(tmp_path, "src", seed_state=True))
        await source.open_transfer()
        await source.serve(0)
        start = source.store.version
        await asyncio.sleep(0.4)
        await source.freeze()
        changed = {
            int(k.split("/")[1]) for k, _ in source.store.delta(start).entries if "session" in k
        }
        logs = sorted(k for k in source.store.values if k.startswith("log/"))
        destination = Instance(config(tmp_path, "dst", seed_state=False))
        await destination.pull(f"127.0.0.1:{source.transfer_port}", 0)
        frozen = source.store.version
        await destination.serve(0)
        await asyncio.sleep(0.2)
        await destination.freeze()
        later = sorted(k for k in destination.store.values if k.startswith("log/"))
        return changed, logs, later, frozen, source.store.version

    changed, logs, later, frozen, after = asyncio.run(run())
    assert changed and max(changed) < 20  # only the first half of the sessions
    assert len(logs) <= 2  # older entries rotated out
    newest = max(int(k[4:]) for k in logs)
    assert len(later) <= 2 and min(int(k[4:]) for k in later) > newest  # carried on
    assert after == frozen  # the frozen source wrote nothing more
