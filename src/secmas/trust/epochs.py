"""Pipeline secrets per key epoch, distributed through the ledger (`001_…` steps 13–14).

The MLFO draws a fresh 256-bit pipeline secret for each key epoch and pushes it through
the SecretStore contract sealed to every trusted agent's X25519 key; it keeps no copy.
An agent fetches its box and opens it with its own key. The registry starts a new epoch
on every revocation, so a revoked agent is left with a secret nobody uses any more and
cannot fetch the new one (the contract refuses it, and no box is sealed to it). The
secret salts the pairwise link keys (`secmas.trust.linkkeys`); members install a new
epoch before any of them sends under it (`secmas.trust.rotation`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from secmas.ledger.chain import Receipt
from secmas.ledger.ids import pipeline_id
from secmas.ledger.registry import RegistryClient, trusted_accounts
from secmas.ledger.secretstore import SecretStoreClient, push_batches
from secmas.trust.identity import AgentIdentity
from secmas.trust.sealing import open_sealed, seal

SECRET_BYTES = 32


def secret_context(pipeline: str, epoch: int) -> bytes:
    """Associated data binding a sealed pipeline secret to its pipeline and epoch."""
    return f"secmas/pipeline-secret/{pipeline}/{epoch}".encode()


@dataclass(frozen=True)
class Recipient:
    """An agent the secret is sealed to: its account and registered X25519 key."""

    address: str
    sealing_key: bytes


@dataclass(frozen=True)
class EpochPush:
    """What the MLFO pushed: the epoch, to whom, and the transactions (one per batch that
    fits a block); the secret itself only when the MLFO takes part in the encrypted
    overlay (`keep_secret`)."""

    epoch: int
    recipients: tuple[str, ...]
    receipts: tuple[Receipt, ...]
    secret: bytes | None = field(default=None, repr=False)
    blocks: Mapping[str, int] = field(default_factory=dict)
    """The block each recipient's sealed secret was pushed in (its log is there)."""


KEY_PROBLEMS_ASKED = 2
"""Refused accounts `keyable` learns one view at a time before it reads every member."""


def keyable(registry: RegistryClient, pipeline: bytes, accounts: Sequence[str]) -> list[str]:
    """Those of `accounts` a key push may go to now (registered, not revoked, trusted on
    chain): one view when all of them may (`key_problem`), as at a bring-up; each refused
    one is left out and the rest asked again, and past KEY_PROBLEMS_ASKED (a wave of
    revocations) every member's record is read, a page at a time."""
    left = list(accounts)
    for _ in range(KEY_PROBLEMS_ASKED):
        index = registry.key_problem(pipeline, left)
        if index is None:
            return left
        del left[index]
    trusted = frozenset().union(*registry.member_pages(pipeline, trusted_accounts))
    return [a for a in left if a in trusted]


def push_epoch(
    pipeline: str,
    registry: RegistryClient,
    store: SecretStoreClient,
    recipients: Iterable[Recipient],
    *,
    keep_secret: bool = False,
    secret: bytes | None = None,
) -> EpochPush:
    """The MLFO's step 13: a fresh secret for the registry's current epoch, sealed to each
    recipient and pushed in as few transactions as the block gas limit allows. The MLFO
    keeps the secret only when it talks on the encrypted overlay itself (`keep_secret`):
    the driver of a multi-process run serves the data-plane controller there. `secret`
    re-sends the current epoch's secret to newcomers (an agent added to a running
    pipeline)."""
    pid = pipeline_id(pipeline)
    epoch = registry.key_epoch(pid)
    secret = secret or secrets.token_bytes(SECRET_BYTES)
    context = secret_context(pipeline, epoch)
    boxes = {r.address: seal(secret, r.sealing_key, context) for r in recipients}
    receipts: list[Receipt] = []
    blocks: dict[str, int] = {}  # by recipient address
    for batch in push_batches(boxes):
        receipts.append(store.push_secrets(pid, epoch, batch))
        blocks.update(dict.fromkeys(batch, receipts[-1].block))
    return EpochPush(epoch, tuple(boxes), tuple(receipts), secret if keep_secret else None, blocks)


@dataclass(frozen=True)
class PipelineSecret:
    """An agent's copy of the pipeline secret of one epoch."""

    epoch: int
    secret: bytes


def fetch_secret(
    pipeline: str, store: SecretStoreClient, identity: AgentIdentity
) -> PipelineSecret:
    """An agent's step 14: fetch its sealed box of the current epoch and open it.

    Raises `LedgerRevert` when the contract refuses (revoked or untrusted agent, nothing
    pushed yet) and `SealError` when the box was not sealed to this agent."""
    epoch, box = store.fetch_secret(pipeline_id(pipeline))
    return _opened(pipeline, identity, epoch, box)


def secret_pushed(
    pipeline: str, store: SecretStoreClient, identity: AgentIdentity, epoch: int, block: int
) -> PipelineSecret | None:
    """An agent's step 14 where it was told the block of its box (`EpochPush.blocks`):
    the box read from its log there, with no contract call; None when that block holds
    none for it (then `fetch_secret`, whose refusal says why). The log is the store's under
    this agent's address and epoch, so a wrong block finds nothing rather than another's
    box; the push that wrote it was refused unless every recipient was trusted. SealError
    when the box was not sealed to this agent."""
    box = store.sealed_secret(pipeline_id(pipeline), epoch, block)
    return None if box is None else _opened(pipeline, identity, epoch, box)


def _opened(pipeline: str, identity: AgentIdentity, epoch: int, box: bytes) -> PipelineSecret:
    return PipelineSecret(
        epoch, open_sealed(box, identity.sealing, secret_context(pipeline, epoch))
    )
