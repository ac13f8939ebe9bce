"""A Hardhat development node (npm `hardhat`, which `scripts/setup --test` installs under
`tools/ledger`) on a free loopback port, for the tests and benchmarks that need a real
JSON-RPC chain: `npx` starts several processes, so the node runs in a process group of
its own and is stopped as a whole, even when the caller fails.

    with hardhat_node(Path("tools/ledger"), timeout=60.0) as url:
        ledger = connect(url)
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from secmas.ledger.errors import LedgerError
from secmas.ledger.rpcnode import JsonRpcNode
from secmas.listenport import free_port

STOP_GRACE_S = 15.0


class NodeDidNotStart(RuntimeError):
    """The node exited or did not answer in time; the message ends with its output."""


@contextmanager
def hardhat_node(tools: Path, *, timeout: float) -> Iterator[str]:
    """The URL of a fresh Hardhat node started in `tools` (automining, as Hardhat starts),
    stopped with its process group on leaving; NodeDidNotStart when it does not answer
    `eth_chainId` within `timeout` s."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true", "CI": "true"}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            ["npx", "--no", "hardhat", "node", "--hostname", "127.0.0.1", "--port", str(port)],
            cwd=tools,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_answering(url, process, log, time.monotonic() + timeout)
            yield url
        finally:
            stop_process_group(process)


def _wait_answering(
    url: str, process: subprocess.Popen[bytes], log: IO[bytes], deadline: float
) -> None:
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            output = log.read().decode(errors="replace")[-2000:]
            raise NodeDidNotStart(f"Hardhat node did not come up on {url}:\n{output}")
        time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        JsonRpcNode(url, timeout_s=0.5).request("eth_chainId", [])
    except LedgerError:  # not listening yet, or not answering JSON-RPC
        return False
    return True


def stop_process_group(process: subprocess.Popen[Any]) -> None:
    """Stops `process` and everything it started (its own process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_GRACE_S)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
