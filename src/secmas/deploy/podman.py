"""How secmas calls podman: one function, one configuration, one error.

Every call runs `podman` with `CONTAINERS_CONF` naming the containers.conf shipped with
the package (`secmas/data/podman/containers.conf`), never the machine's: podman's default
runtime, crun, refuses the hybrid cgroups of the kernels here and its default ulimits
exceed their hard limits (`STACK.md`, OCI containers), and nothing of secmas writes to
/etc/containers. With `CONTAINERS_CONF` set podman reads that file instead of the
system's and the user's.

A podman that is missing, fails or does not answer raises `PodmanError`, which keeps the
command and podman's own message (its last `Error:` line, else the end of its stderr).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

SETUP_HINT = "./scripts/setup --containers installs it"
PODMAN_MISSING = f"podman is not installed: {SETUP_HINT}"
TIMEOUT_S = 120.0


class PodmanError(RuntimeError):
    """A podman command that could not run, failed or timed out."""

    def __init__(
        self, command: Sequence[str], reason: str, stderr: str = "", returncode: int | None = None
    ) -> None:
        self.command = tuple(command)
        self.reason = reason
        self.stderr = stderr
        self.returncode = returncode
        super().__init__(f"{' '.join(self.command[:3])}: {reason}")


class PodmanMissing(PodmanError):
    """No `podman` on PATH."""


def containers_conf() -> Path:
    """The containers.conf every call uses (package data)."""
    return Path(str(resources.files("secmas") / "data" / "podman" / "containers.conf"))


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with `CONTAINERS_CONF` pointing at the shipped file."""
    return {**os.environ, **(extra or {}), "CONTAINERS_CONF": str(containers_conf())}


def available() -> bool:
    """Whether `podman` is on PATH."""
    return shutil.which("podman") is not None


def podman(
    args: Sequence[str],
    stdin: str | None = None,
    timeout: float = TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    *,
    merged: bool = False,
) -> str:
    """Run `podman ARGS` and return its standard output (with its standard error when
    `merged`: `logs`); PodmanError naming the command and podman's reason when it is
    missing, fails or takes longer than `timeout`. `env` adds variables podman passes on
    (`run -e NAME` without a value), so that secrets stay off its command line."""
    command = ["podman", *args]
    try:
        done = subprocess.run(
            command,
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merged else subprocess.PIPE,
            text=True,
            errors="replace",
            timeout=timeout,
            env=environment(env),
            check=False,
        )
    except FileNotFoundError:
        raise PodmanMissing(command, PODMAN_MISSING) from None
    except subprocess.TimeoutExpired:
        raise PodmanError(command, f"no answer in {timeout:g} s") from None
    if done.returncode != 0:
        stderr = done.stdout if merged else done.stderr
        raise PodmanError(command, _reason(stderr), stderr, done.returncode)
    return done.stdout


def podman_json(args: Sequence[str], timeout: float = TIMEOUT_S) -> Any:
    """`podman ARGS` whose output is JSON (`inspect`, `ps --format json`), parsed."""
    out = podman(args, timeout=timeout)
    try:
        return json.loads(out or "null")
    except ValueError:
        raise PodmanError(["podman", *args], f"not JSON: {out[:120]!r}") from None


def _reason(stderr: str) -> str:
    """podman's last `Error:` line and what follows it (the reasons it lists), else the
    end of what it wrote."""
    lines = stderr.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Error")]
    if not starts:
        return stderr.strip()[-400:] or "failed without a message"
    return " ".join(line.strip() for line in lines[starts[-1] :])[:600]
