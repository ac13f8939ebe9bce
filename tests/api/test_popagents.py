"""How the agents of an emulated multi-process run are started (`secmas.api.popagents`):
as containers of the agent image where podman runs it, each driver checking its image
against the reference SECaaS signed for the run; as processes otherwise, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from secmas.api.observer import RunObserver
from secmas.api.popagents import pop_agents
from secmas.deploy.containers import PodmanAgents
from secmas.deploy.image import AgentImage, agent_tag
from secmas.deploy.podman import PODMAN_MISSING


class Notes(RunObserver):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(self, text: str) -> None:
        self.lines.append(text)


def test_without_podman_the_agents_run_as_processes_saying_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no podman on it
    notes = Notes()
    chosen = pop_agents(notes)
    assert chosen.kind == "processes" and chosen.driver is None
    assert chosen.said == f"agents as processes ({PODMAN_MISSING})"
    assert "./scripts/setup --containers" in chosen.said
    assert notes.lines == []  # nothing was built


def test_with_podman_the_agents_run_as_containers_of_the_checked_image(
    agent_image: AgentImage, tmp_path: Path
) -> None:
    notes = Notes()
    chosen = pop_agents(notes)  # the session's image is up to date: nothing to build
    assert chosen.kind == "containers" and chosen.driver is not None
    assert chosen.said.startswith(f"agents as containers (podman, image {agent_tag()} ")
    assert notes.lines[0].startswith(f"agents as containers: the agent image {agent_tag()}")
    assert notes.lines[-1].startswith("SECaaS signed the reference of the image's ")
    netns = {"pop1": "/var/run/netns/x"}
    driver = chosen.driver(netns, tmp_path)
    assert isinstance(driver, PodmanAgents)
    assert driver.netns == netns and driver.workdir == tmp_path
    assert driver.reference is not None and driver.reference.kind == "oci"
    assert driver.image[:12] in chosen.said  # run by its id: a rebuild meanwhile changes nothing
    driver.stop_all()  # started nothing: removes nothing
