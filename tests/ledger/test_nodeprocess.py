"""The ledger host: the run's chains in a process of their own. Answers find their
askers, failures come back as they were raised, and the host lives exactly as long as
the process that started it."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from multiprocessing import Pipe
from pathlib import Path

import pytest

from secmas.ledger import connect, nodeprocess
from secmas.ledger.accounts import Account
from secmas.ledger.errors import LedgerUnavailable
from secmas.ledger.evmnode import CHAIN_ID
from secmas.ledger.node import NodeRefused, NodeRevert
from secmas.ledger.transactions import Transaction

FUNDS = 10**21


def _transfer(sender: Account, nonce: int, to: bytes) -> bytes:
    return sender.sign_transaction(
        Transaction(
            chain_id=CHAIN_ID,
            nonce=nonce,
            max_priority_fee=10**9,
            max_fee=4 * 10**9,
            gas=21_000,
            to=to,
            value=1,
            data=b"",
        )
    )


def test_the_host_answers_the_requests_waiting_together_until_its_pipe_ends() -> None:
    """Requests waiting at once: the read answered first (it ran beside the transactions),
    the transactions mined together in one block, a refusal sent back to its asker alone,
    the chain's transactions mined before the drop that followed them, a request for the
    chain closed meanwhile refused by name; at end-of-file the host returns, every request
    sent before it answered."""
    senders = [Account.from_key(bytes([i + 1]) * 32) for i in range(2)]
    (requests_r, requests_w), (answers_r, answers_w) = Pipe(duplex=False), Pipe(duplex=False)
    requests_w.send((0, 1, "open chain", ({s.address: FUNDS for s in senders},), {}))
    requests_w.send((1, 1, "submit", (_transfer(senders[0], 0, b"\x44" * 20),), {}))
    requests_w.send((2, 1, "submit", (_transfer(senders[1], 5, b"\x44" * 20),), {}))  # gap
    requests_w.send((3, 1, "submit", (_transfer(senders[1], 0, b"\x44" * 20),), {}))
    requests_w.send((4, 1, "block_number", (), {}))
    requests_w.send((-1, 1, "drop chain", (), {}))
    requests_w.send((5, 1, "block_number", (), {}))
    requests_w.close()
    host = threading.Thread(target=nodeprocess._serve, args=(requests_r, answers_w))
    host.start()
    answers = {ident: (ok, value) for ident, ok, value in (answers_r.recv() for _ in range(6))}
    host.join(timeout=30)
    assert not host.is_alive()  # it ended with its pipe
    assert [answers[i][1].block for i in (1, 3)] == [1, 1]
    ok, refused = answers[2]
    assert not ok and isinstance(refused, NodeRefused) and "nonce 5" in str(refused)
    assert answers[4] == (True, (0, 0))  # a read names the latest block with its answer
    ok, closed = answers[5]
    assert not ok and isinstance(closed, LedgerUnavailable) and "chain 1 was closed" in str(closed)


def test_a_revert_keeps_its_payload_across_processes() -> None:
    revert = pickle.loads(pickle.dumps(NodeRevert("Registry: no", b"\x08\xc3\x79\xa0")))
    assert (revert.reason, revert.payload) == ("Registry: no", b"\x08\xc3\x79\xa0")


def test_threads_of_one_process_are_each_answered_their_own() -> None:
    ledger = connect(None)
    results: dict[int, int] = {}

    def ask(i: int) -> None:
        results[i] = ledger.balance("0x" + f"{i:040x}")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == dict.fromkeys(range(16), 0)
    assert ledger.balance(ledger.mlfo) > 0


def test_reads_are_answered_again_until_a_newer_block_is_heard_of(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same read twice goes to the host once; a transaction mined, the read goes again
    and sees what it changed."""
    sender = Account.from_key(b"\x07" * 32)
    node = nodeprocess.NodeProcess({sender.address: FUNDS})
    asked: list[str] = []
    ask = node._host.ask
    monkeypatch.setattr(node._host, "ask", lambda *a: asked.append(a[1]) or ask(*a))
    payee = "0x" + "44" * 20
    assert [node.balance(payee), node.balance(payee), node.block_number()] == [0, 0, 0]
    assert asked == ["balance", "block_number"]
    node.submit(_transfer(sender, 0, b"\x44" * 20))
    assert [node.balance(payee), node.block_number(), node.balance(payee)] == [1, 1, 1]
    assert asked == ["balance", "block_number", "submit", "balance", "block_number"]
    node.close()
    with pytest.raises(LedgerUnavailable, match="closed"):
        node.balance(payee)


def test_whoever_saw_a_newer_block_is_never_answered_from_an_older_one() -> None:
    """An answer made at an older block than one already heard of (a read that came back
    late, or one kept before a transaction of this process was mined) is not given."""
    reads = nodeprocess._Reads()
    reads.keep(("balance",), 5, 3)
    assert reads.kept(("balance",)) == (True, 5)
    reads.keep(("nonce",), 1, 4)  # another read saw block 4: block 3's answers are gone
    assert reads.kept(("balance",)) == (False, None)
    reads.keep(("balance",), 5, 3)  # made at block 3, came back after block 4 was seen
    assert reads.kept(("balance",)) == (False, None)
    reads.mined(5)
    assert reads.kept(("nonce",)) == (False, None)
    reads.keep(("call", 3), b"step", 5, fixed=True)  # a read of block 3: for good
    reads.mined(9)
    assert reads.kept(("call", 3), fixed=True) == (True, b"step")
    reads.keep(("nonce",), 2, 9)
    reads.forget()
    assert reads.kept(("nonce",)) == reads.kept(("call", 3), fixed=True) == (False, None)


def test_a_host_that_died_fails_its_chains_and_the_next_chain_starts_another() -> None:
    ledger = connect(None)
    host = nodeprocess._current_host()
    os.kill(host.process.pid, signal.SIGKILL)
    with pytest.raises(LedgerUnavailable, match=r"ledger host .* exited"):
        for _ in range(100):  # the reader may not have seen the end yet
            ledger.block_number()
            time.sleep(0.05)
    assert connect(None).block_number() == 0
    assert nodeprocess._current_host() is not host


def test_the_host_ends_with_a_script_that_opened_it_and_was_killed(tmp_path: Path) -> None:
    """A script without a `__main__` guard opens a chain (nothing re-runs it), prints its
    host's pid and is killed: the host reads end-of-file and exits."""
    script = tmp_path / "opens.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            from secmas.ledger import connect, nodeprocess
            connect(None).deploy()
            print(nodeprocess._current_host().process.pid, flush=True)
            time.sleep(120)
            """
        )
    )
    script_run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert script_run.stdout is not None
        host_pid = int(script_run.stdout.readline())
    finally:
        script_run.kill()
        script_run.wait()
    for _ in range(200):
        if not _alive(host_pid):
            break
        time.sleep(0.05)
    assert not _alive(host_pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    return status != "Z"  # a zombie has exited, its parent gone too


def test_large_requests_and_large_answers_at_once_never_wait_for_each_other() -> None:
    """Threads sending requests larger than a pipe holds beside threads reading answers
    larger than a pipe holds: a sender that kept the answers' lock while the host could not
    read (it was writing an answer the reader, waiting for that lock, would not take) hung
    them all."""
    ledger = connect(None)
    mlfo = ledger.chain.sender(ledger.mlfo)
    ledger.chain.transact(mlfo, "0x" + "55" * 20, bytes(150_000), gas=3_000_000, where=("", ""))
    done: list[int] = []

    def read_large(i: int) -> None:
        for _ in range(5):
            ledger.chain.sent_by(frozenset({ledger.mlfo.address}), 0)  # ~300 kB answers
        done.append(i)

    def send_large(i: int) -> None:
        for _ in range(5):
            ledger.chain.call(ledger.mlfo.address, "0x" + "66" * 20, bytes(300_000), ("", ""))
        done.append(i)

    threads = [
        threading.Thread(target=work, args=(i,), daemon=True)
        for i, work in enumerate([read_large, send_large] * 4)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    assert sorted(done) == list(range(8))
