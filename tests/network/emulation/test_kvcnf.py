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


def test_post_copy_serves_at_once_faults_in_what_it_lacks_and_keeps_its_own_writes(
    tmp_path: Path,
) -> None:
    async def run() -> tuple[bytes, bytes, dict, str, int]:
        source = Instance(config(tmp_path, "src", seed_state=True))
        await source.open_transfer()
        source.store.put("probe/web", b"41")
        await source.freeze()
        destination = Instance(config(tmp_path, "dst", seed_state=False))
        answer = await destination.serve_lazy(
            f"127.0.0.1:{source.transfer_port}", 0, 0, rate=20_000
        )
        assert answer["missing"] == len(source.store.values) and not destination.store.values
        # a request for a key that has not arrived fetches it from the source (a fault)
        faulted = await http(destination, "GET", b"")
        await http(destination, "PUT", b"42")  # written here: the source's copy must not win
        done = await destination.complete()
        kept = destination.store.values["probe/web"]
        await destination.freeze()
        return faulted, kept, done, source.store.digest(), len(destination.missing)

    faulted, kept, done, source_digest, missing = asyncio.run(run())
    assert faulted == b"41" and kept == b"42"
    assert done["faults"] >= 1 and missing == 0
    assert done["source_digest"] == source_digest


async def http(instance: Instance, method: str, body: bytes) -> bytes:
    """One request to the instance's service (its address is loopback here)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", instance.service_port)
    writer.write(f"{method} /kv/probe/web HTTP/1.0\r\nContent-Length: {len(body)}\r\n\r\n".encode())
    writer.write(body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer.split(b"\r\n\r\n", 1)[1]
