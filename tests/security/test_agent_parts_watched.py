"""An insider with code execution in an agent's process rebinds a method, not on the
agent object the attester has always watched, but one object below it: the mailbox's
`send` (every bid and award goes through it), the goal board, the BDI engine, its Auction
and Orchestrator capabilities, its VNF plug-ins, its end of the bus, its attester and its
control plane. The same measurement must see it in every
placement (`secmas.pipeline.agentwatch` is what one process and an agent process both
watch): in an agent process the agent holds no bus of its own, its world's bus is its
channel end, and neither that nor the attester was watched."""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.agents.ddos.agent import PoPAgent, World
from secmas.cli.main import default_scenario_path
from secmas.pipeline.agentwatch import watch_agent
from secmas.pipeline.membership import Membership
from secmas.pipeline.tamper import infect_agent
from secmas.scenario.loader import load_scenario
from secmas.transport.memory import MemoryBus
from secmas.trust.control import MLFO, SECAAS
from secmas.trust.enrolment import Credential
from secmas.trust.identity import AgentIdentity
from secmas.trust.image import RuntimeImage
from secmas.trust.wrap import wrap

OBJECTS = "bind:objects"

implant: dict[str, object] = {}
exec(  # code from no file of the package: what an injected payload defines
    "async def send(message):\n    return None\ndef post(*args, **kwargs):\n    return None\n",
    implant,
)


@pytest.fixture(scope="module")
def image() -> RuntimeImage:
    root = Path(importlib.import_module("secmas").__file__ or "").parent
    return RuntimeImage.of(wrap(root, Ed25519PrivateKey.generate()), root)


def membership(agent: str) -> Membership:
    """An agent's real trust side (attester, control plane) before it joins."""
    mlfo, secaas = AgentIdentity.generate(MLFO), AgentIdentity.generate(SECAAS)
    credential = Credential(
        "p",
        agent,
        bytes(32),
        mlfo.sealing_public,
        mlfo.signing_public,
        secaas.sealing_public,
        secaas.signing_public,
    )
    return Membership("p", AgentIdentity.generate(agent), MemoryBus(), credential, bytes, bytes)


@pytest.fixture
def watched(image: RuntimeImage) -> Iterator[tuple[PoPAgent, Membership, Callable[[], bytes]]]:
    """A real agent of the reference scenario as an agent process builds it (no bus of its
    own: its world's is its channel end) with its trust side, watched by its own copy of
    the image; the measurement's part for the watched objects."""
    world = World.simulated(load_scenario(default_scenario_path()))
    agent, member = PoPAgent("pop3", world), membership("pop3")
    own = replace(image, watched=[])
    watch_agent(own, agent, member)
    yield agent, member, lambda: dict(own.measure().parts)[OBJECTS]


def test_a_genuine_agent_and_its_parts_measure_clean(
    watched: tuple[PoPAgent, Membership, Callable[[], bytes]],
) -> None:
    _, _, objects = watched
    assert objects() == objects()


def test_the_mailboxs_send_rebound_is_caught_and_clean_once_removed(
    watched: tuple[PoPAgent, Membership, Callable[[], bytes]],
) -> None:
    agent, _, objects = watched
    clean = objects()
    agent.mailbox.send = implant["send"]  # type: ignore[method-assign]
    assert objects() != clean
    del agent.mailbox.send
    assert objects() == clean


@pytest.mark.parametrize("part", ["board", "bdi", "auctioneer", "orchestrator"])
def test_a_method_rebound_on_another_part_of_the_agent_is_caught(
    watched: tuple[PoPAgent, Membership, Callable[[], bytes]], part: str
) -> None:
    agent, _, objects = watched
    clean = objects()
    held = getattr(agent, part)
    name = next(n for n, v in vars(type(held)).items() if isinstance(v, types.FunctionType))
    setattr(held, name, implant["post"])
    assert objects() != clean


def test_a_method_rebound_on_a_vnf_plugin_of_the_agent_is_caught(
    watched: tuple[PoPAgent, Membership, Callable[[], bytes]],
) -> None:
    agent, _, objects = watched
    clean = objects()
    for plugin in agent.plugins.values():
        plugin.observe = implant["post"]  # type: ignore[method-assign]
        assert objects() != clean, plugin.name
        del plugin.observe
    assert objects() == clean


def test_the_demo_implant_bound_on_the_agent_is_caught(
    watched: tuple[PoPAgent, Membership, Callable[[], bytes]],
) -> None:
    agent, _, objects = watched
    clean = objects()
    infect_agent(agent)
    assert objects() != clean


@pytest.mark.parametrize(
    "part",
    ["agent.world.bus", "member.endpoint", "member.control", "member"],
    ids=["bus-end", "attester", "control-plane", "membership"],
)
def test_a_method_rebound_on_the_agents_channel_end_or_trust_side_is_caught(
    watched: tuple[PoPAgent, Membership, Callable[[], bytes]], part: str
) -> None:
    agent, member, objects = watched
    clean = objects()
    first, *path = part.split(".")
    held: object = {"agent": agent, "member": member}[first]
    for step in path:
        held = getattr(held, step)
    name = next(n for n, v in vars(type(held)).items() if isinstance(v, types.FunctionType))
    setattr(held, name, implant["post"])
    assert objects() != clean
