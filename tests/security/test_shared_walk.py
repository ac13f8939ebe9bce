"""Agents in one process share their measurement walks: a challenge that arrives while
another agent's walk is under way waits for the next walk, which begins after it arrived,
and every challenge waiting then is answered from that one walk.

The attack: patch the process's code while one agent's walk is in flight (it measured
the code before the patch), then challenge a second agent. Were the second answered from
the walk in flight, its evidence would show the code as it was before the patch, and the
implant would pass. It must show the patch. (The test holds the walk in flight at its
end, as a slow walk on a busy host would last.)"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.trust.test_image import image

from secmas.network.clock import Offload
from secmas.trust.attestation import Measurement
from secmas.trust.distribution import PluginDistribution, part_name
from secmas.trust.image import RuntimeImage

WAIT_S = 10.0


class Hold:
    """Once armed, holds the next walk at its end until released; counts the walks
    since it was armed."""

    def __init__(self) -> None:
        self.armed = False
        self.walks = 0
        self.in_walk = threading.Event()
        self.release = threading.Event()

    def arm(self) -> None:
        self.armed, self.walks = True, 0


@pytest.fixture
def hold(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hold]:
    held = Hold()
    walk = RuntimeImage._package_parts

    def slow(self: RuntimeImage) -> dict[str, bytes]:
        parts = walk(self)
        if held.armed:
            held.walks += 1
            if held.walks == 1:
                held.in_walk.set()
                assert held.release.wait(WAIT_S)
        return parts

    monkeypatch.setattr(RuntimeImage, "_package_parts", slow)
    yield held
    held.release.set()


def _measured(runtime: RuntimeImage, into: list[Measurement]) -> threading.Thread:
    """`runtime` measured in a thread of its own (an agent's attester), into `into`."""
    thread = threading.Thread(target=lambda: into.append(runtime.measure()))
    thread.start()
    return thread


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_a_patch_made_during_another_agents_walk_is_caught(tmp_path: Path, hold: Hold) -> None:
    runtime, name = image(tmp_path)
    reference = runtime.measure()
    first, second = replace(runtime, watched=[]), replace(runtime, watched=[])
    firsts: list[Measurement] = []
    seconds: list[Measurement] = []
    hold.arm()
    walking = _measured(first, firsts)
    assert hold.in_walk.wait(WAIT_S)  # the first walk measured the code as shipped
    sys.modules[f"{name}.used"].act.__code__ = (lambda x: x).__code__  # the implant
    challenged = _measured(second, seconds)
    _until(lambda: runtime.walks.waiting() == 1)
    hold.release.set()
    for thread in (walking, challenged):
        thread.join(WAIT_S)
    assert firsts[0].differing(reference) == []  # the walk in flight began before it
    assert seconds[0].differing(reference) == [f"code:{name}.used"]


def test_challenges_waiting_together_share_one_walk(tmp_path: Path, hold: Hold) -> None:
    runtime, _ = image(tmp_path)
    reference = runtime.measure()
    agents = [replace(runtime, watched=[]) for _ in range(5)]
    results: list[Measurement] = []
    hold.arm()
    walking = _measured(agents[0], results)
    assert hold.in_walk.wait(WAIT_S)
    waiting = [_measured(a, results) for a in agents[1:]]
    _until(lambda: runtime.walks.waiting() == 4)
    hold.release.set()
    for thread in (walking, *waiting):
        thread.join(WAIT_S)
    assert len(results) == 5 and all(r.root == reference.root for r in results)
    assert hold.walks == 2  # the one in flight, then one for the four that waited


def test_an_agent_with_plug_ins_is_measured_through_the_shared_walk(tmp_path: Path) -> None:
    # a plug-in distribution holds a dict of its files, so it cannot key a walk by value
    runtime, _ = image(tmp_path)
    plugin_file = tmp_path / "tally.py"
    plugin_file.write_text("def tally():\n    return 1\n")
    tally = PluginDistribution("tally", "1.0", ("remedy 'TALLY'",), {"tally.py": plugin_file})
    with_plugin = replace(runtime, plugins=(tally,))
    reference = with_plugin.measure()
    assert part_name("tally") in dict(reference.parts)
    plugin_file.write_text("def tally():\n    return 2\n")  # the plug-in changed on disk
    assert with_plugin.measure().differing(reference) == [part_name("tally")]


async def _awaited(runtimes: list[RuntimeImage], offload: Offload) -> list[Measurement]:
    return list(await asyncio.gather(*(r.measured(offload) for r in runtimes)))


def test_a_patch_made_during_a_walk_is_caught_by_an_awaited_challenge(
    tmp_path: Path, hold: Hold
) -> None:
    # the same attack on the path in-process agents take: the challenge awaits its walk
    runtime, name = image(tmp_path)
    reference = runtime.measure()
    firsts: list[Measurement] = []
    hold.arm()
    walking = _measured(replace(runtime, watched=[]), firsts)
    assert hold.in_walk.wait(WAIT_S)
    sys.modules[f"{name}.used"].act.__code__ = (lambda x: x).__code__  # the implant

    async def challenged() -> list[Measurement]:
        asking = asyncio.ensure_future(_awaited([replace(runtime, watched=[])], asyncio.to_thread))
        await asyncio.to_thread(_until, lambda: runtime.walks.waiting() == 1)
        hold.release.set()
        return await asking

    (second,) = asyncio.run(challenged())
    walking.join(WAIT_S)
    assert firsts[0].differing(reference) == []
    assert second.differing(reference) == [f"code:{name}.used"]


def test_awaited_challenges_share_one_walk_and_leave_the_pool_free(
    tmp_path: Path, hold: Hold
) -> None:
    """Twenty agents challenged while a walk is under way: one walker waits for the next
    walk, the others hold no thread, so other work offloaded meanwhile runs at once."""
    runtime, _ = image(tmp_path)
    reference = runtime.measure()
    hold.arm()
    firsts: list[Measurement] = []
    walking = _measured(replace(runtime, watched=[]), firsts)
    assert hold.in_walk.wait(WAIT_S)
    pool = ThreadPoolExecutor(2)

    async def offload(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def challenged() -> tuple[list[Measurement], str]:
        agents = [replace(runtime, watched=[]) for _ in range(20)]
        asking = asyncio.ensure_future(_awaited(agents, offload))
        await asyncio.to_thread(_until, lambda: runtime.walks.waiting() == 20)
        other = await asyncio.wait_for(offload(lambda: "ran"), WAIT_S)  # a ledger call
        hold.release.set()
        return await asking, other

    results, other = asyncio.run(challenged())
    walking.join(WAIT_S)
    pool.shutdown()
    assert other == "ran"
    assert len(results) == 20 and all(r.root == reference.root for r in results)
    assert hold.walks == 2  # the one in flight, then one for the twenty


def test_awaited_challenges_learn_why_their_walker_could_not_run(tmp_path: Path) -> None:
    runtime, _ = image(tmp_path)
    pool = ThreadPoolExecutor(1)
    pool.shutdown()

    async def offload(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def challenged() -> list[BaseException | Measurement]:
        agents = [replace(runtime, watched=[]) for _ in range(3)]
        return await asyncio.gather(*(a.measured(offload) for a in agents), return_exceptions=True)

    outcomes = asyncio.run(challenged())
    assert all(isinstance(o, RuntimeError) and "shutdown" in str(o) for o in outcomes)
    assert runtime.measure().root  # the next ask walks again


def test_a_walker_cancelled_before_it_began_leaves_no_ask_waiting(tmp_path: Path) -> None:
    """Its pool busy, the walker is cancelled (as a closing loop cancels its tasks): the
    agent waiting for it learns so, and the next ask starts a walker of its own."""
    runtime, _ = image(tmp_path)
    reference = runtime.measure()
    pool, busy = ThreadPoolExecutor(1), threading.Event()
    pool.submit(busy.wait, WAIT_S)

    async def offload(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def challenged() -> tuple[BaseException | Measurement, Measurement]:
        asking = asyncio.ensure_future(replace(runtime, watched=[]).measured(offload))
        await asyncio.sleep(0)
        (walker,) = runtime.walks._walkers
        walker.cancel()
        (first,) = await asyncio.wait_for(asyncio.gather(asking, return_exceptions=True), WAIT_S)
        busy.set()
        return first, await asyncio.wait_for(replace(runtime, watched=[]).measured(offload), WAIT_S)

    first, second = asyncio.run(challenged())
    pool.shutdown()
    assert isinstance(first, RuntimeError) and "cancelled before it began" in str(first)
    assert second.root == reference.root
