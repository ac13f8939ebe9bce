"""What an agent plugs into its NFV-A mailbox: the plan that runs a won goal (`Executor`)
and the optional hooks (`Hooks`) through which the mailbox asks the agent's policies and
tells it, its journal and the other processes what happened."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from secmas.agents.acl import ACLMessage
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.nfva.work import Work
from secmas.agents.reputation import Promise
from secmas.agents.senders import Refused
from secmas.network.infrastructure import Instance

Executor = Callable[[GoalRequest, Bid, dict[str, Any]], Awaitable[dict[str, Any]]]
"""Runs the won goal's plan on the winner: (request, bid, payload) → result content."""

Started = Callable[[Instance, GoalRequest], None]
"""Told when the Orchestrator has downloaded and started a new VNF instance."""

Download = Callable[[Bid], Awaitable[bool]]
"""Downloads the bid's VNF image to this PoP for real; False where the engine models
downloads (then the Orchestrator waits the bid's T)."""

Terminated = Callable[[str, str], Awaitable[object]]
"""Stops a VNF instance started for a goal that was cancelled: (instance id, cause); it
gives the resources back and journals the termination."""

Requested = Callable[[ACLMessage], None]
"""Told of a REQUEST (another agent asks this one to pursue a goal)."""

Admits = Callable[[str], bool]
"""Whether an agent may take part (attested and not revoked); others are ignored."""

Needed = Callable[[], bool]
"""Whether the initiator still needs the goal (it is not believed achieved, the agent runs):
failed or unanswered auctions are repeated while it holds."""

Renew = Callable[[], Awaitable[GoalRequest]]
"""The goal's request as it stands now (e.g. its traffic measured again), for an attempt that
follows a back-off."""

Declines = Callable[[GoalRequest], Awaitable[str | None]]
"""A PoP's local policy on calls for proposals: the reason it refuses to bid for a goal (its
domain's security hygiene is too low for a sensitive goal, it is the PoP a moving target
leaves), or None to bid as usual. The reason goes back in the REFUSE and into the record."""

Announce = Callable[[str, str, list[str], float], Awaitable[None]]
"""Tells the agents in other processes that a virtual path was reserved or given back:
(op "reserve" | "release", holder, node path, MB/s)."""

Promised = Callable[[Promise], None]
"""Told of every promise an initiator judged: an award kept or broken, a bid refused as
implausible (the run's journal records it and keeps the reputation book)."""

Cancelled = Callable[[Work], None]
"""Told when a goal's work stopped before its plan acted (its initiator cancelled it, or
this agent was no longer admitted): what it took is given back by then."""


@dataclass
class Hooks:
    """The agent's optional hooks into its mailbox, each None where the agent has none: one
    object instead of a parameter each, so that a role reads the ones it uses and a test
    swaps one (`mailbox.hooks.admits = …`) for every role at once."""

    admits: Admits | None = None
    """None: every agent takes part."""
    declines: Declines | None = None
    """None: this agent bids for every goal it can."""
    announce: Announce | None = None
    """None: every agent shares one `Infrastructure` (one process), nothing to tell."""
    download: Download | None = None
    """None: every download takes the bid's T."""
    on_start: Started | None = None
    on_request: Requested | None = None
    """None: a REQUEST is not this agent's to answer (it is queued like any answer)."""
    on_cancel: Cancelled | None = None
    terminate: Terminated | None = None
    """None: an instance is terminated on the infrastructure alone, nobody journals it."""
    promised: Promised | None = None
    refused: Refused | None = None
