"""On the virtual clock a busy machine never fails an honest attester, and a silent one
still fails (`secmas.trust.deadlines`).

The slow attester is genuine: its image is libtorch_cpu (hundreds of MB of mapped code
read from memory and hashed, about a second a measurement), while the scenario declares a
challenge timeout of 50 ms. Wall time is what a busy machine stretches; on the run's clock
the measurement takes no time, so the verdict is the same on any machine.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.network.clock import VirtualClock
from secmas.pipeline.secure import SecurePipeline, wrap_native_image
from secmas.scenario.model import Attestation, Security
from secmas.transport.memory import MemoryBus
from secmas.trust.repository import ReferenceRepository

LIBTORCH = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
TIGHT = Security(attestation=Attestation(challenge_timeout=0.05))


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 300))


def test_a_slow_honest_attester_passes_on_the_run_clock() -> None:
    async def main() -> list[tuple[str, bool, tuple[str, ...]]]:
        image = wrap_native_image(
            LIBTORCH, Ed25519PrivateKey.generate(), ReferenceRepository(":memory:")
        )
        bus = MemoryBus()
        pipeline = await SecurePipeline.bring_up(
            "slow-pipe", ["a1", "a2"], bus, VirtualClock(), TIGHT, images={"a1": image, "a2": image}
        )
        try:
            return [(e.measured, e.passed, e.reasons) for e in pipeline.entries]
        finally:
            await pipeline.close()
            await bus.close()

    assert run(main()) == [("a1", True, ()), ("a2", True, ())]


def test_an_attester_that_never_answers_still_fails_on_the_run_clock() -> None:
    async def main() -> tuple[bool, tuple[str, ...]]:
        bus = MemoryBus()
        pipeline = await SecurePipeline.bring_up(
            "mute-pipe", ["a1", "a2", "a3"], bus, VirtualClock(), TIGHT
        )
        try:
            await pipeline.members["a2"].endpoint.stop()  # a2 answers nothing from now on
            entries = await pipeline.chain.run(3)
            failed = [e for e in entries if not e.passed]
            return failed[0].measured, failed[0].passed, failed[0].reasons
        finally:
            await pipeline.close()
            await bus.close()

    measured, passed, reasons = run(main())
    assert (measured, passed) == ("a2", False)
    assert reasons[0].startswith("no evidence from a2")
