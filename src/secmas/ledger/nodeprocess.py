"""The run's own chains in a process of their own: py-evm beside the agents, not among them.

`connect(None)` runs its chain (`secmas.ledger.evmnode.EvmNode`) in a child process, the
ledger host, and talks to it over two pipes. py-evm is pure Python: in the run's own
process it held the interpreter lock for about half of a 1,000-agent bring-up while the
agents waited for it; in the host it executes on another core while the agents measure,
seal and appraise.

- One host per process serves every chain that process opens (a test session opens
  hundreds): it imports py-evm once, about a second, and a new chain costs its genesis.
  It is a fresh interpreter (`main`), not a fork of this
  many-threaded process, and it never imports the caller's main module, so a script
  needs no `if __name__ == "__main__"` guard.
- Requests are pipelined: any number of threads ask at once, each request carries an id,
  the host answers in arrival order and a reader thread hands each answer to its asker.
- The host ends with its pipe: when this process exits or is killed, the host reads
  end-of-file and returns. A chain is dropped there when its `NodeProcess` is closed or
  garbage-collected. A host that died makes every request, pending or new, raise
  `LedgerUnavailable`; the next chain opened starts a new host.
- What a node raises comes back as it was raised (`NodeRevert` with its payload).
- Reads are answered here while no newer block was seen (`_Reads`): the chain lives in
  this process's host alone and changes only by the blocks its transactions are mined in,
  so the host names the latest block with each read's answer, and a read asked again
  before this process heard of a newer block has the same answer. A thousand agents
  reading the same member pages each went to the host, which pickled the same 60 kB
  answer for each; a verifier reads the step SECaaS read a moment before.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import pickle
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from eth_typing import ChecksumAddress

from secmas.ledger.errors import LedgerUnavailable
from secmas.ledger.node import MEMORY, Mined, RawLog, SentTransaction

if TYPE_CHECKING:
    from secmas.ledger.evmnode import EvmNode

_OPEN, _DROP, _SUBMIT = "open chain", "drop chain", "submit"
_READS = frozenset(
    {"block_number", "block_time", "balance", "nonce", "base_fee", "priority_fee", "call", "logs"}
)
"""Requests that change nothing: answered with the latest block's number (`_Reads`)."""
_MOST_AT_ONCE = 256
"""Requests the host takes from its pipe before serving them (transactions among them are
mined together)."""
_HOST_MAIN = "from secmas.ledger.nodeprocess import main; main()"
"""How the host starts (not `-m`: the package imports this module before running it)."""
READS_KEPT = 4096
"""Answers `_Reads` keeps between two transactions (the oldest goes first)."""


def _serve(requests: Connection, answers: Connection) -> None:
    """The host: its chains by number, serving until end-of-file whatever requests wait
    in the pipe at once. Each asker waits for its answer before it asks again, so requests
    waiting together are concurrent and any order is one they could have arrived in: the
    reads are answered in arrival order, the transactions are then mined together per
    chain (`EvmNode.submit_all`). Only a chain's opening and dropping keep their place: a
    drop mines the chain's transactions that came before it."""
    chains: dict[int, EvmNode] = {}
    while True:
        try:
            waiting = [requests.recv()]
        except (EOFError, OSError):
            return
        ended = False
        while len(waiting) < _MOST_AT_ONCE and requests.poll():
            try:
                waiting.append(requests.recv())
            except (EOFError, OSError):
                ended = True
                break
        sent: dict[int, list[tuple[int, bytes]]] = {}
        for ident, chain, method, args, kwargs in waiting:
            if method == _SUBMIT:
                sent.setdefault(chain, []).append((ident, args[0]))
                continue
            if method in (_OPEN, _DROP) and chain in sent:
                _mine(chains.get(chain), chain, sent.pop(chain), answers)
            _serve_one(chains, ident, chain, method, args, kwargs, answers)
        for chain, transactions in sent.items():
            _mine(chains.get(chain), chain, transactions, answers)
        if ended:
            return


def _serve_one(
    chains: dict[int, EvmNode],
    ident: int,
    chain: int,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    answers: Connection,
) -> None:
    try:
        if method == _OPEN:
            from secmas.ledger.evmnode import EvmNode  # py-evm: in the host only

            chains[chain] = EvmNode(*args)
            value: Any = None
        elif method == _DROP:
            chains.pop(chain, None)
            return  # nobody waits for a drop
        elif chain in chains:
            value = getattr(chains[chain], method)(*args, **kwargs)
            if method in _READS:
                value = (value, chains[chain].block_number())
        else:
            raise LedgerUnavailable(MEMORY, f"chain {chain} was closed")
        _answer(answers, (ident, True, value))
    except Exception as exc:  # every failure goes back to its asker; the host serves on
        _answer(answers, (ident, False, exc))


def _mine(
    node: EvmNode | None, chain: int, transactions: list[tuple[int, bytes]], answers: Connection
) -> None:
    """Each transaction's receipt or error, mined together on `node`."""
    try:
        if node is None:
            raise LedgerUnavailable(MEMORY, f"chain {chain} was closed")
        outcomes: list[Any] = node.submit_all([signed for _, signed in transactions])
    except Exception as exc:  # every asker learns why
        outcomes = [exc] * len(transactions)
    for (ident, _), outcome in zip(transactions, outcomes, strict=True):
        _answer(answers, (ident, not isinstance(outcome, Exception), outcome))


def _answer(answers: Connection, answer: tuple[int, bool, Any]) -> None:
    """Send `answer`; a failure that would not come back whole (an exception whose
    arguments do not rebuild it) goes as a RuntimeError naming it."""
    ident, ok, value = answer
    try:
        if not ok:
            pickle.loads(pickle.dumps(value))
        answers.send(answer)
    except Exception as exc:
        answers.send((ident, False, RuntimeError(f"{type(value).__name__}: {value} ({exc})")))


class _Host:
    """This process's end of one ledger host: the pipes, the requests awaiting an
    answer by id and, once the host is gone, why."""

    def __init__(self) -> None:
        request_r, request_w = os.pipe()
        answer_r, answer_w = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HOST_MAIN, str(request_r), str(answer_w)],
            pass_fds=(request_r, answer_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        os.close(request_r)
        os.close(answer_w)
        self.pid = os.getpid()
        self.requests = Connection(request_w, readable=False)
        self.answers = Connection(answer_r, writable=False)
        self.lock = threading.Lock()
        """Guards `waiting` and `gone`."""
        self.sending = threading.Lock()
        """One request at a time into the pipe."""
        self.waiting: dict[int, Future[Any]] = {}
        self.gone: str | None = None
        self.ids = itertools.count()
        self.dropped: collections.deque[int] = collections.deque()
        """Chains to drop, told with the next request: a finalizer may run inside any
        allocation, this lock held or the pipe half-written, so it only appends here."""
        threading.Thread(target=self._read, name="ledger-host-reader", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                ident, ok, value = self.answers.recv()
            except (EOFError, OSError):
                break
            with self.lock:
                future = self.waiting.pop(ident)
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        code = self.process.wait()
        with self.lock:
            self.gone = f"the ledger host (pid {self.process.pid}) exited with status {code}"
            pending, self.waiting = list(self.waiting.values()), {}
        for future in pending:
            future.set_exception(LedgerUnavailable(MEMORY, self.gone))

    def ask(self, chain: int, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Send one request (after the drops due) and wait for its answer."""
        future: Future[Any] = Future()
        with self.lock:
            if self.gone is not None:
                raise LedgerUnavailable(MEMORY, self.gone)
            ident = next(self.ids)
            self.waiting[ident] = future
        try:  # not under `lock`: a large request may wait for the host to read, and the
            # host for the reader, which takes `lock` for every answer
            with self.sending:
                while self.dropped:
                    self.requests.send((-1, self.dropped.popleft(), _DROP, (), {}))
                self.requests.send((ident, chain, method, args, kwargs))
        except OSError as exc:
            with self.lock:
                self.waiting.pop(ident, None)
            raise LedgerUnavailable(MEMORY, f"the ledger host's pipe: {exc}") from exc
        return future.result()


_host: _Host | None = None
_host_lock = threading.Lock()
_chains = itertools.count(1)


def _current_host() -> _Host:
    """This process's host, started now if there is none, it died, or this process is a
    fork of the one that started it."""
    global _host
    with _host_lock:
        if _host is None or _host.gone is not None or _host.pid != os.getpid():
            _host = _Host()
        return _host


def warm_up() -> None:
    """Start the host now (it imports py-evm, about a second, on another core), so that
    the first chain of a run does not wait for it."""
    _current_host()


class _Reads:
    """The answers of reads, each kept with the latest block when it was made, and the
    latest block this process heard of (from a read's answer or a mined transaction).

    A kept answer is given again while no newer block was heard of: whoever saw the
    chain move on (its own transaction mined, or a read made after it) moved `head` before
    it went on, so nobody reads an older chain after seeing a newer one. A transaction
    still in flight may be mined already; a read answered from here then comes before it,
    as it may: it has not been answered yet. A read of a past block (`fixed`) has the
    same answer for good, and is kept across blocks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: collections.OrderedDict[tuple[Any, ...], Any] = collections.OrderedDict()
        self._fixed: collections.OrderedDict[tuple[Any, ...], Any] = collections.OrderedDict()
        self._head = -1
        self._gone = False

    def kept(self, key: tuple[Any, ...], fixed: bool = False) -> tuple[bool, Any]:
        """(found, the kept answer)."""
        answers = self._fixed if fixed else self._answers
        with self._lock:
            if self._gone or key not in answers:
                return False, None
            answers.move_to_end(key)
            return True, answers[key]

    def keep(self, key: tuple[Any, ...], answer: Any, head: int, fixed: bool = False) -> None:
        """`answer`, made at block `head`, kept while no newer block is heard of (for good
        when `fixed`)."""
        with self._lock:
            self._saw(head)
            if self._gone or (head != self._head and not fixed):
                return  # made on a chain older than one already seen
            answers = self._fixed if fixed else self._answers
            answers[key] = answer
            if len(answers) > READS_KEPT:
                answers.popitem(last=False)

    def mined(self, block: int) -> None:
        """A transaction of this process was mined in `block`."""
        with self._lock:
            self._saw(block)

    def forget(self) -> None:
        """The chain is gone (closed, or its host died): nothing is answered from here."""
        with self._lock:
            self._gone = True
            self._answers.clear()
            self._fixed.clear()

    def _saw(self, block: int) -> None:
        if block > self._head:
            self._head = block
            self._answers.clear()


class NodeProcess:
    """A chain of `funded` genesis balances in the ledger host, behind the `Node`
    protocol."""

    url = MEMORY

    def __init__(self, funded: dict[str, int]) -> None:
        self._host = _current_host()
        self._chain = next(_chains)
        self._reads = _Reads()
        self._ask(_OPEN, funded)
        self._dropper = weakref.finalize(self, self._host.dropped.append, self._chain)

    def close(self) -> None:
        """Drop the chain in the host (told with the host's next request)."""
        self._reads.forget()
        self._dropper()

    def _ask(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._host.ask(self._chain, method, args, kwargs)

    def _read(self, method: str, *args: Any, fixed: bool = False, **kwargs: Any) -> Any:
        """A read's answer, from `_reads` when no newer block was heard of since (ever
        after, when it reads a block mined already: `fixed`)."""
        key = (method, args, tuple(sorted(kwargs.items())))
        found, answer = self._reads.kept(key, fixed)
        if found and self._host.gone is None:
            return answer
        answer, head = self._ask(method, *args, **kwargs)
        self._reads.keep(key, answer, head, fixed)
        return answer

    def _transact(self, method: str, *args: Any) -> Mined:
        mined: Mined = self._ask(method, *args)
        self._reads.mined(mined.block)
        return mined

    # -- the Node protocol, forwarded ------------------------------------------------------
    def chain_id(self) -> int:
        return int(self._ask("chain_id"))

    def accounts(self) -> list[ChecksumAddress]:
        return list(self._ask("accounts"))

    def block_number(self) -> int:
        return int(self._read("block_number"))

    def block_time(self, number: int) -> int:
        return int(self._read("block_time", number, fixed=True))

    def balance(self, address: str) -> int:
        return int(self._read("balance", address))

    def nonce(self, address: str) -> int:
        return int(self._read("nonce", address))

    def base_fee(self) -> int:
        return int(self._read("base_fee"))

    def priority_fee(self) -> int:
        return int(self._read("priority_fee"))

    def sent_by(
        self, senders: frozenset[ChecksumAddress], from_block: int, to_block: int
    ) -> list[SentTransaction]:
        return list(self._ask("sent_by", senders, from_block, to_block))

    def call(
        self,
        sender: str,
        to: str,
        data: bytes,
        *,
        gas: int | None = None,
        value: int = 0,
        block: int | None = None,
    ) -> bytes:
        past = block is not None
        return bytes(
            self._read("call", sender, to, data, gas=gas, value=value, block=block, fixed=past)
        )

    def submit(self, signed: bytes) -> Mined:
        return self._transact(_SUBMIT, signed)

    def submit_unsigned(self, tx: dict[str, Any]) -> Mined:
        return self._transact("submit_unsigned", tx)

    def sign_message(self, address: str, message: bytes) -> bytes:
        return bytes(self._ask("sign_message", address, message))

    def logs(
        self, address: str, topics: Sequence[bytes | None], from_block: int, to_block: int | None
    ) -> list[RawLog]:
        return list(self._read("logs", address, tuple(topics), from_block, to_block))


def main() -> None:
    """The host itself, on the two pipes' ends named by descriptor (requests, answers).
    Ctrl-C is its parent's to handle: the host ends when the parent's end of the pipe
    closes."""
    parser = argparse.ArgumentParser(description="the ledger host of secmas.ledger.nodeprocess")
    parser.add_argument("requests", type=int)
    parser.add_argument("answers", type=int)
    fds = parser.parse_args()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(Connection(fds.requests, writable=False), Connection(fds.answers, readable=False))
