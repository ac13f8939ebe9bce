"""Scenarios for the data-plane tests, built from plain dicts as a YAML file would give them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from secmas.network.dataplane import traffic
from secmas.scenario.ddos import ddos_catalogue
from secmas.scenario.model import Scenario

RING = [("pop1", "pop2", 10), ("pop2", "pop3", 10), ("pop3", "pop4", 10)]
RING += [("pop4", "pop5", 8), ("pop5", "pop6", 8), ("pop6", "pop1", 5)]
CHORDS = [("pop1", "pop4", 6), ("pop2", "pop5", 7), ("pop3", "pop5", 5)]

ScenarioFactory = Callable[..., Scenario]


def build_scenario(**overrides: Any) -> Scenario:
    """The 6-PoP DDoS scenario of Section 5.3; keyword arguments replace top-level fields."""
    data: dict[str, Any] = {
        "id": "ddos-6pop-test",
        "seed": 7,
        "pops": [{"id": f"pop{i}", "cpu": 4, "memory": 8, "disk": 40} for i in range(1, 7)],
        "hosts": [{"id": "server", "attach": "pop6", "ip": "10.0.0.100"}],
        "links": [
            *({"a": a, "b": b, "bandwidth": bw, "latency": 2.0} for a, b, bw in RING + CHORDS),
            {"a": "pop6", "b": "server", "bandwidth": 10, "latency": 1.0},
        ],
        "repository": {"attach": "pop5"},
        "vnfs": [vnf.model_dump() for vnf in ddos_catalogue()],
        "traffic": {
            "server": "server",
            "duration": 240,
            "step": 1.0,
            "background": {
                "hosts": 50,
                "http_per_video": 5,
                "video_rate": 0.15,
                "http_rate": 0.02,
                "attach": ["pop1", "pop2", "pop3", "pop4"],
            },
        },
        "attack": {"attackers": 8, "rate": 0.5, "start": 20, "attach": ["pop1", "pop2", "pop3"]},
        "defence": {
            "monitor": {"pop": "pop6", "link": ["pop6", "server"], "threshold": 4.0},
        },
    }
    data.update(overrides)
    return Scenario.model_validate(data)


@pytest.fixture
def ddos_scenario() -> Scenario:
    """The default 6-PoP DDoS scenario."""
    return build_scenario()


@pytest.fixture
def make_scenario() -> ScenarioFactory:
    """Build a variant of the 6-PoP scenario."""
    return build_scenario


def build_merge(
    *, attackers: int = 2, attack_rate: float = 4.0, legit: int = 4, loss: float = 0.0
) -> Scenario:
    """Two branches merging before the server, with round numbers for hand computation.

    Attackers (one flow each, port 8000) sit behind `a`, video clients (0.5 MB/s each)
    behind `b`; both reach `c`, whose link to the server carries only 5 MB/s:

        a ──10── c ──5── server
        b ──10──┘
    """
    return Scenario.model_validate(
        {
            "id": "merge",
            "pops": [{"id": p, "cpu": 4, "memory": 8, "disk": 40} for p in ("a", "b", "c")],
            "hosts": [{"id": "server", "attach": "c", "ip": "10.0.0.100"}],
            "links": [
                {"a": "a", "b": "c", "bandwidth": 10},
                {"a": "b", "b": "c", "bandwidth": 10},
                {"a": "c", "b": "server", "bandwidth": 5, "loss": loss},
            ],
            "repository": {"attach": "c"},
            "vnfs": [vnf.model_dump() for vnf in ddos_catalogue()],
            "traffic": {
                "server": "server",
                "background": {
                    "hosts": legit,
                    "http_per_video": 0,
                    "video_rate": 0.5,
                    "attach": ["b"],
                },
            },
            "attack": {
                "attackers": attackers,
                "rate": attack_rate,
                "start": 0,
                "ports": [8000],
                "attach": ["a"],
            },
        }
    )


@pytest.fixture
def steady(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the per-step jitter off so that rates are exactly the configured means."""
    monkeypatch.setattr(traffic, "JITTER", 0.0)


@pytest.fixture
def merge() -> Callable[..., Scenario]:
    """Build the two-branch scenario."""
    return build_merge
