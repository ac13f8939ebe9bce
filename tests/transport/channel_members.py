"""What the channel tests share: NFV-A-like subjects, a hand-moved clock, and agents whose
identity keys are the same in every test pipeline (as one agent in two segments)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import PeerKeys

FLOOR = "nfva.floor"


def inbox(agent: str) -> str:
    return f"nfva.agent.{agent}"


def recipient(subject: str) -> str | None:
    """`nfva.agent.<name>` addresses one agent; every other subject is the group's."""
    tokens = subject.split(".")
    return tokens[2] if len(tokens) == 3 and tokens[:2] == ["nfva", "agent"] else None


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@functools.cache
def identity(name: str) -> AgentIdentity:
    """One agent's keys, derived from its name."""
    seed = hashlib.sha256(name.encode()).digest()
    signing = Ed25519PrivateKey.from_private_bytes(seed)
    return AgentIdentity(name, signing, X25519PrivateKey.from_private_bytes(seed))


class Registered(Mapping[str, PeerKeys]):
    """A registry where every agent id has its `identity` (so the tests using it are about
    the channel; the attacks on the directory are in tests/security)."""

    def __getitem__(self, name: str) -> PeerKeys:
        return PeerKeys.of(identity(name))

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0
