"""Remedies as plug-ins: what a remediation action of an SSLA makes happen on a breach.

A guarantee term's remediation names its actions by word (`<action>REJECT_PACKET</action>`).
Each word is a remedy installed under the `secmas.remedies` entry-point group
(`secmas.plugins`): the entry point's name is the word in lower case (`reject_packet`),
and it names a `Remedy` subclass. secmas registers its own four (NOTIFY, LOG,
REJECT_PACKET, REVOKE: `secmas.policy.remedies`) there; a researcher's distribution adds
one the same way, and an SSLA document may then name it. A document naming a word that no
installed remedy answers to is refused where it is read, naming the installed ones.

On a breach the SSLA manager (`secmas.policy.manager`) hands each of the term's remedies
the `Breach` (the assessed period, the action, the offenders) and itself, as the
`Enforcer` through which a remedy acts on the run: the world, the slice's tap, the agents,
the trust layer, the audit log and the record of what was enforced.

Listing the words imports no remedy: SSLA documents are checked before anything runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from secmas.plugins import PluginError, plugins

if TYPE_CHECKING:
    from secmas.agents.ddos.agent import World
    from secmas.agents.handle import AgentHandle
    from secmas.pipeline.runloop import TrustLayer
    from secmas.policy.assessment import Assessment
    from secmas.policy.audit import AuditLog
    from secmas.policy.ssla import Action
    from secmas.policy.streams import SliceTap

__all__ = ["GROUP", "Breach", "Enforcer", "Remedy", "action_words", "remedy_class"]

GROUP = "secmas.remedies"


def action_words() -> tuple[str, ...]:
    """The action words SSLA documents may use: the installed remedies' names in upper
    case, sorted."""
    return tuple(sorted(name.upper() for name in plugins(GROUP)))


@dataclass(frozen=True)
class Breach:
    """A breached period of a guarantee term, as one of its actions is asked to answer it."""

    assessment: Assessment
    action: Action
    offenders: frozenset[str]
    """The period's offenders (source addresses, senders or PoPs)."""
    new: frozenset[str]
    """Those of them first seen in this breach episode."""


class Enforcer(Protocol):
    """What the SSLA manager lends a remedy to act on the run with."""

    audit: AuditLog
    blocked: dict[tuple[str, str], int]
    """Installed blockFlow rules by (source, destination) address."""
    revoked: set[str]
    """The agents revoked so far."""
    agents: Mapping[str, AgentHandle]
    """The run's agents by PoP."""
    trust_layer: TrustLayer | None
    """The run's trust layer (None: an insecure run)."""

    def world(self) -> World:
        """The run's world: bus, controller, data plane, scenario, directory."""
        ...

    def tap(self, slice_id: str) -> SliceTap:
        """The streams and topology of slice `slice_id`."""
        ...

    def enforced(self, assessment: Assessment, action: str, target: str, outcome: str) -> None:
        """Record that `action` was carried out on `target` (or refused), for the report."""
        ...


class Remedy(ABC):
    """What one action word of SSLA documents does on a breach: a remedy plug-in."""

    name: ClassVar[str] = ""
    """Its plug-in's name: the action word in lower case."""
    once_per_episode: ClassVar[bool] = False
    """Whether it acts on the first breached period of an episode only (a notification),
    rather than on every breached period (a block that follows new offenders)."""

    @abstractmethod
    async def enforce(self, breach: Breach, run: Enforcer) -> None:
        """Answer the breach on the run; record what was done with `run.enforced` and
        audit it in `run.audit`."""


def remedy_class(word: str) -> type[Remedy]:
    """The installed remedy of the action word `word`; PluginError naming the installed
    words when there is none, or naming the plug-in when it cannot be loaded, is no
    `Remedy` or calls itself otherwise."""
    found = plugins(GROUP)
    name = word.lower()
    if name not in found:
        raise PluginError(
            f"no remedy {word!r} is installed (installed: {', '.join(action_words()) or 'none'})"
        )
    loaded = found[name].load(Remedy)
    if not isinstance(loaded, type):
        raise PluginError(f"{found[name].where()}: is a remedy object, not a Remedy class")
    if loaded.name != name:
        raise PluginError(
            f"{found[name].where()}: its class calls itself {loaded.name!r}; a remedy's name "
            "is its plug-in's name"
        )
    return loaded
