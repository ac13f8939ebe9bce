"""`secmas ledger serve` in a process of its own, as a user starts it, for the tests that
talk to it over HTTP: its URL once it listens, its output once Ctrl-C stopped it."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE

SERVE = (
    "import typer; from secmas.cli import ledger; app = typer.Typer(); ledger.register(app); app()"
)
STOP_TIMEOUT_S = 10


@dataclass
class Served:
    """The server's process and URL; `out`, `err` and `returncode` once stopped."""

    process: subprocess.Popen[str]
    url: str
    out: str = ""
    err: str = ""
    returncode: int | None = None

    def line(self) -> str:
        """The next line the server printed."""
        assert self.process.stdout is not None
        return self.process.stdout.readline()


@contextmanager
def ledger_serve(out: Path, option: str = "--out") -> Iterator[Served]:
    """A server on a free port writing its files into `out` (or, `option` "--access",
    reading them there), stopped with SIGINT on leaving (killed if the block failed)."""
    argv = [sys.executable, "-c", SERVE, "ledger", "serve", "--port", "0", option, str(out)]
    process = subprocess.Popen(argv, stdout=PIPE, stderr=PIPE, text=True)
    try:
        served = Served(process, "")
        first = served.line()
        assert first.startswith("ledger JSON-RPC at http://127.0.0.1:"), first
        served.url = first.split()[-1]
        yield served
        process.send_signal(signal.SIGINT)
        served.out, served.err = process.communicate(timeout=STOP_TIMEOUT_S)
        served.returncode = process.returncode
    finally:
        process.kill()
        process.wait()
