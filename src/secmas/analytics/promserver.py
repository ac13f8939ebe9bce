"""A Prometheus server of the run's own (Debian's `prometheus`), started and stopped here.

It gets a configuration and a TSDB folder inside the run folder, listens on a free
loopback port and scrapes the given targets every `interval` seconds. It is a child of
the run that dies with it (PR_SET_PDEATHSIG) and is stopped by its PID; the Debian
package's own service is never used (it does not start in a container anyway).
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from secmas.analytics.prometheus import PrometheusClient
from secmas.listenport import free_port

PROMETHEUS = "/usr/bin/prometheus"
PR_SET_PDEATHSIG = 1


class PrometheusUnavailable(RuntimeError):
    """This machine has no Prometheus binary (the text names the package)."""


class PrometheusFailed(RuntimeError):
    """The server did not start (the text has the end of its log)."""


def prometheus_binary() -> str:
    """Prometheus' path, or PrometheusUnavailable naming the Debian package."""
    found = shutil.which("prometheus") or (PROMETHEUS if Path(PROMETHEUS).exists() else None)
    if found is None:
        raise PrometheusUnavailable(
            "prometheus: install the Debian package prometheus (./scripts/setup --emulated)"
        )
    return found


def scrape_config(targets: Sequence[str], interval: float, job: str = "cnf") -> str:
    """prometheus.yml scraping `targets` (host:port) every `interval` seconds (pure)."""
    listed = ", ".join(f'"{t}"' for t in targets)
    millis = max(100, round(interval * 1000))
    timeout = millis  # a busy 2-core machine answers late rather than never
    return f"""global:
  scrape_interval: {millis}ms
  scrape_timeout: {timeout}ms
  evaluation_interval: {millis}ms
scrape_configs:
  - job_name: {job}
    static_configs:
      - targets: [{listed}]
"""


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class PrometheusServer:
    """One Prometheus process; a context manager that always stops it."""

    def __init__(self, folder: Path, targets: Sequence[str], interval: float = 1.0) -> None:
        self.folder = folder
        self.targets = list(targets)
        self.interval = interval
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_within: float = 20.0) -> PrometheusClient:
        """Write the configuration, start the server, wait until it is ready."""
        binary = prometheus_binary()
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "prometheus.yml"
        config.write_text(scrape_config(self.targets, self.interval), encoding="utf-8")
        self.port = free_port()
        log = self.folder / "prometheus.log"
        command = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        client = PrometheusClient(self.url, timeout=2.0)
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if client.ready():
                return client
            time.sleep(0.1)
        self.stop()
        tail = log.read_text(errors="replace")[-500:].strip() if log.exists() else ""
        raise PrometheusFailed(f"prometheus did not become ready; {log}: {tail}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; idempotent."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
