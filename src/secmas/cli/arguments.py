"""Checks of the arguments of `secmas run` and `secmas demo` that need no work done: the
output folder, the ports, the seed, and options that would have no effect. They run before
anything starts (no agent, no training, no network), and each failure exits 2 naming the
option.

The output folder: `--out` must be a folder this user can create files in; one that
already holds files is written over only with `--force`, and one holding an audit log
never (audit logs are evidence). Without `--out`, a run writes to `runs/<scenario>-<time>`,
and to `runs/<scenario>-<time>-2` (and so on, said) when that one exists.

This module imports nothing heavy (no scenario model, no runtime): the checks run, and
their errors print, before a command loads what its work needs.
"""

from __future__ import annotations

import errno
import re
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from secmas.cli.output import fail
from secmas.report.folder import refusal

MAX_SEED = 2**32 - 1
"""The largest seed (`secmas.scenario.model.MAX_SEED`, repeated so that the options' help
needs no scenario model; a test keeps the two equal)."""
METRICS_HOST = "127.0.0.1"
"""Where the closed loop serves Prometheus metrics (`secmas.analytics.monitoring`)."""
SEED_RANGE = f"0 to {MAX_SEED}"
"""What a `--seed` may be, for its help."""
_WHOLE = re.compile(r"-?[0-9]+")


def clip(text: str, limit: int = 200) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut (as
    `secmas.scenario.yamlfile.clip`, whose package loads the scenario model)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_out(text: str) -> Path:
    """`--out` as given: an empty name would mean the current folder."""
    if not text.strip():
        raise typer.BadParameter("an empty name: give a folder (e.g. runs/mine)")
    return Path(text)


def parse_seed(given: str | int) -> int:
    """`--seed` as given (or its default, which click passes through too), 0 to `MAX_SEED`:
    a larger seed would fail mid-run in a random generator (see `MAX_SEED`), so it is
    refused before any work, quoted short."""
    digits = str(given).strip()
    if not _WHOLE.fullmatch(digits):
        raise typer.BadParameter(f"{clip(str(given), 40)!r} is not a whole number")
    if digits.startswith("-") and digits.strip("-0"):
        raise typer.BadParameter(f"{clip(digits, 40)} is below 0")
    if len(digits.lstrip("-0")) > len(str(MAX_SEED)) or int(digits) > MAX_SEED:
        raise typer.BadParameter(f"{clip(digits, 40)} is above {MAX_SEED}")
    return int(digits)


OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        parser=parse_out,
        metavar="DIR",
        help="folder for the files (default runs/<id>); one that already holds files needs --force",
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="no progress: only the result, warnings and errors",
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="print the result as one JSON document on stdout (progress and warnings go to stderr)",
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="write into an --out folder that already holds files, replacing the files the "
        "run writes (never an audit log)",
    ),
]
ForceFileOption = Annotated[
    bool, typer.Option("--force", help="write over output files that already exist")
]
"""`--force` of a command that writes files: without it, an existing one is refused."""


@dataclass(frozen=True)
class RunArguments:
    """What `run`/`demo` were given that these checks look at; `detect` is whether the
    run has the closed loop (`--detect`, `--federated` or the scenario's own), None before
    the scenario is read."""

    out: Path | None
    force: bool
    processes: bool
    bus: str | None
    detect: bool | None
    metrics_port: int | None
    retrain: bool
    ui: bool
    ui_port: int | None
    ui_exit: bool
    insecure: bool
    plaintext: bool
    speed: bool = False
    """Whether --speed was given."""


def check_run_arguments(arguments: RunArguments) -> None:
    """Exit 2 on options that would have no effect, a busy port, or an output folder the
    run could not write to. With `detect` None (the scenario not read yet), the options
    that need the closed loop are left to a second call once it is known."""
    problems = _without_effect(arguments)
    if problems:
        raise fail(problems[0])
    check_port("--metrics-port", arguments.metrics_port, METRICS_HOST)
    check_port("--ui-port", arguments.ui_port, METRICS_HOST)
    if arguments.metrics_port and arguments.metrics_port == arguments.ui_port:
        raise fail(f"--metrics-port and --ui-port are both {arguments.ui_port}: choose two")
    check_out(arguments.out, arguments.force)


def check_closed_loop(arguments: RunArguments) -> None:
    """Exit 2 on options that need the closed loop in a run without it, once the scenario
    said whether it has one (`arguments.detect`)."""
    problems = _without_effect(arguments)
    if problems:
        raise fail(problems[0])


def _without_effect(arguments: RunArguments) -> list[str]:
    """Options given that the run would ignore."""
    problems = []
    if arguments.bus is not None and not arguments.processes:
        problems.append("--bus: in-process agents talk over an in-memory bus; add --processes")
    for option, given in (
        ("--metrics-port", arguments.metrics_port is not None),
        ("--retrain", arguments.retrain),
    ):
        if given and arguments.detect is False:
            problems.append(f"{option}: only with the closed loop; add --detect")
    for option, given in (
        ("--ui-port", arguments.ui_port is not None),
        ("--ui-exit", arguments.ui_exit),
    ):
        if given and not arguments.ui:
            problems.append(f"{option}: only with --ui")
    if arguments.plaintext and arguments.insecure:
        problems.append("--plaintext: with --insecure nothing is keyed or encrypted anyway")
    if arguments.speed and not (arguments.processes or arguments.ui):
        problems.append(
            "--speed: paces agents as processes or the live page; add --processes or --ui "
            "(a run in one process goes as fast as it can)"
        )
    return problems


def check_readable(path: Path, option: str | None = None) -> None:
    """Exit 2 unless `path` is a file this user can read, naming it as the command's
    readers would (`FILE: (top level): cannot read file: …`, or after the option that gave
    it): the check runs before a command loads its readers."""
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        where = f"{option} {path}" if option else f"{path}: (top level)"
        raise fail(f"{where}: cannot read file: {exc}") from None


def check_new_files(force: bool, *outputs: tuple[str, Path | None]) -> None:
    """Exit 2 unless each output file, (option, path), can be written: its folder exists,
    it is not itself a folder, and without `force` it does not exist yet. What a command
    writes never silently replaces earlier work (a model trained for an hour, a recorded
    dataset, a signed manifest)."""
    for option, path in outputs:
        if path is None:
            continue
        if path.is_dir():
            raise fail(f"{option} {path} is a folder: give the file to write")
        if not path.absolute().parent.is_dir():
            raise fail(f"{option} {path}: no folder {path.parent}")
        if path.exists() and not force:
            raise fail(f"{option} {path} already exists: add --force to write over it")


def check_new_folder(force: bool, option: str, folder: Path | None) -> None:
    """Exit 2 unless the command may write its files into `folder` (None: not given): a
    file there, or a folder that holds files without `force`, is refused, as a run's
    `--out` is (`secmas.report.folder.refusal`)."""
    if folder is None:
        return
    if folder.exists() and not folder.is_dir():
        raise fail(f"{option} {folder}: a file, not a folder")
    if (why := refusal(folder, force, "add --force")) is not None:
        raise fail(f"{option} {why}")


def check_folder(path: Path | None, option: str) -> None:
    """Exit 2 unless `path` (None: not given) is an existing folder, naming the option that
    gave it: a mistyped input folder is told as such before any work, not later as some
    file missing inside it."""
    if path is None:
        return
    if not path.exists():
        raise fail(f"{option} {path}: no such folder")
    if not path.is_dir():
        raise fail(f"{option} {path}: not a folder")


def check_port(option: str, port: int | None, host: str) -> None:
    """Exit 2 unless `host`:`port` can be listened on now (0 and None pick a free one)."""
    if not port:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            busy = exc.errno == errno.EADDRINUSE
            why = "in use by another program" if busy else exc.strerror
            raise fail(f"{option} {port}: cannot listen on {host}:{port}: {why}") from None


def check_out(out: Path | None, force: bool) -> None:
    """Exit 2 unless the run can write its files to `out` (or, without it, under runs/)."""
    option = "--out" if out is not None else "the default folder runs/"
    folder = out if out is not None else Path("runs")
    check_new_folder(force or out is None, option, folder)  # runs/ holds every run
    _check_writable(option, folder)


def _check_writable(option: str, folder: Path) -> None:
    """Exit 2 unless a file can be created in `folder` or, if it does not exist yet, in
    its nearest existing parent (where it would be created)."""
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise fail(f"{option} {folder}: {existing} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".secmas-probe-"):
            pass
    except OSError as exc:
        raise fail(
            f"{option} {folder}: cannot create files in {existing}: {exc.strerror}"
        ) from None
