"""SECaaS's own attestations recorded several to a transaction (group commit).

At bring-up SECaaS attests the first agent of every attestation group at once (`001_…`
steps 9–12, side by side across groups): with 500 groups, a transaction each was a fifth of
the ledger's work of a 1,000-agent bring-up. An attestation asked to be recorded while
another transaction of SECaaS is being mined waits for the next one, which takes every
attestation waiting then (up to what one transaction may hold), so a lone attestation is
recorded at once and a crowd in a few transactions. SECaaS's transactions are one
account's, mined one after the other anyway.

A transaction the contract refuses refuses every attestation in it (a revoked agent, say):
its attestations are then sent one by one, so that each learns its own answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from secmas.ledger.chain import Receipt
from secmas.ledger.errors import LedgerRevert
from secmas.ledger.registry import INITIALS_PER_TRANSACTION, Initial, RegistryClient
from secmas.network.clock import Offload


@dataclass
class InitialRecords:
    """SECaaS's attestations waiting to be recorded, and the task recording them."""

    registry: RegistryClient
    """SECaaS's client of the registry (its transactions are SECaaS's)."""
    pipeline: bytes
    offload: Offload
    most: int = INITIALS_PER_TRANSACTION
    _waiting: list[tuple[Initial, asyncio.Future[Receipt]]] = field(
        default_factory=list, init=False
    )
    _sending: asyncio.Task[None] | None = field(default=None, init=False)

    async def recorded(self, initial: Initial) -> Receipt:
        """The receipt of the transaction that recorded `initial` (LedgerError as for one
        transaction of its own). A caller cancelled meanwhile may still have its
        attestation recorded: it was on its way."""
        answer: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._waiting.append((initial, answer))
        if self._sending is None or self._sending.done():
            self._sending = asyncio.ensure_future(self._send_waiting())
        return await answer

    async def _send_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self.most], self._waiting[self.most :]
                await self._send(batch)
        finally:  # cancelled: nobody is left waiting for an answer that never comes
            for _, answer in self._waiting:
                answer.cancel()
            self._waiting = []

    async def _send(self, batch: list[tuple[Initial, asyncio.Future[Receipt]]]) -> None:
        try:
            initials = [initial for initial, _ in batch]
            receipt = await self.offload(self.registry.record_initials, self.pipeline, initials)
        except LedgerRevert as exc:
            if len(batch) > 1:  # which one the contract refused: each alone
                for one in batch:
                    await self._send([one])
                return
            _settle(batch, error=exc)
        except asyncio.CancelledError:
            _settle(batch, cancelled=True)
            raise
        except Exception as exc:  # the ledger unreachable: every one of them failed
            _settle(batch, error=exc)
        else:
            _settle(batch, receipt=receipt)


def _settle(
    batch: list[tuple[Initial, asyncio.Future[Receipt]]],
    receipt: Receipt | None = None,
    error: Exception | None = None,
    cancelled: bool = False,
) -> None:
    """Each still-awaited answer of `batch`: the receipt, the error, or cancelled."""
    for _, answer in batch:
        if answer.done():  # its caller was cancelled
            continue
        if cancelled:
            answer.cancel()
        elif error is not None:
            answer.set_exception(error)
        else:
            assert receipt is not None
            answer.set_result(receipt)
