"""Take each registered defence out in turn and see its attack tests fail
(`scripts/defence-check`; the registry is `defences.toml`, read by `defences.py`).

For each defence: the mutation is applied in the working tree, the release re-signed
(`secmas wrap --release`: a secure run measures the installed package, and a failure must
come from the defence's absence, not from a package that differs from its reference),
the named tests run, the file restored (always: on a failure, Ctrl-C or SIGTERM too) and
the release signed again. A defence is "caught" when its tests failed, "NOT CAUGHT" when
they passed: then nothing tests it."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from tests.security.defences import ROOT, Defence, load

PYTHON = ROOT / ".venv" / "bin" / "python"
SECMAS = ROOT / ".venv" / "bin" / "secmas"
CAUGHT, NOT_CAUGHT, SKIPPED, TIMED_OUT, BROKEN = (
    "caught",
    "NOT CAUGHT",
    "skipped",
    "TIMED OUT",
    "FAILS WITHOUT THE MUTATION",
)
FAILING = (NOT_CAUGHT, TIMED_OUT, BROKEN)
"""Outcomes that fail the check (exit 1)."""


@dataclass(frozen=True)
class Outcome:
    """What one defence's check found: its verdict, in how long, and the first failure
    (or why none)."""

    defence: Defence
    verdict: str
    seconds: float
    detail: str = ""


class Interrupted(Exception):
    """SIGTERM, turned into an exception so that the file is restored on the way out."""


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise Interrupted("terminated")


def _run(command: list[str], log: Path | None = None, timeout: float | None = None) -> int:
    """Run `command` in the checkout, its output into `log` (or discarded); on a timeout
    or an interruption its whole process group is killed (servers a test started too)."""
    with log.open("w") if log is not None else nullcontext(subprocess.DEVNULL) as out:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            return process.wait(timeout)
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise


def _build(defence: Defence) -> None:
    """Make the tree's state take effect: the defence's build (if any), then the release
    signed again."""
    if defence.build and _run(["bash", "-c", defence.build]) != 0:
        raise RuntimeError(f"{defence.id}: `{defence.build}` failed")
    if _run([str(SECMAS), "wrap", "--release", "src/secmas"]) != 0:
        raise RuntimeError("`secmas wrap --release src/secmas` failed")


def _clean(path: Path) -> bool:
    """Whether `path` (a file or folder) is as committed."""
    return _run(["git", "diff", "--quiet", "--", str(path)]) == 0


@contextmanager
def mutated(defence: Defence) -> Iterator[None]:
    """The tree with `defence` removed, restored (and re-signed) whatever happens."""
    path, built = defence.path, ROOT / "src"
    for must in (path, built) if defence.build else (path,):
        if not _clean(must):
            raise RuntimeError(f"{must} has uncommitted changes: commit or stash them first")
    original = path.read_text(encoding="utf-8")
    if original.count(defence.old) != 1:
        found = original.count(defence.old)
        raise RuntimeError(f"{defence.id}: its old text occurs {found} times in {defence.file}")
    try:
        path.write_text(original.replace(defence.old, defence.new), encoding="utf-8")
        _build(defence)
        yield
    finally:
        path.write_text(original, encoding="utf-8")
        _build(defence)
        for must in (path, built) if defence.build else (path,):
            if not _clean(must):
                raise RuntimeError(f"{must} differs from git after the restore")


def _pytest(defence: Defence, log: Path, workers: int, timeout: float) -> tuple[str, str]:
    """Run the defence's tests: the verdict they give (caught when any failed) and the
    first failure's summary line."""
    report = log.with_suffix(".xml")
    command = [
        str(PYTHON), "-m", "pytest", f"-n{workers}", "-x", "-p", "no:cacheprovider",
        "-q", "-rfEs", f"--junitxml={report}", *defence.tests,
    ]  # fmt: skip
    try:
        _run(command, log, timeout)
    except subprocess.TimeoutExpired:
        return TIMED_OUT, f"over {timeout:g} s"
    if not report.exists():
        return BROKEN, f"pytest wrote no report: see {log}"
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in ET.parse(report).getroot().iter("testsuite"):
        for key in counts:
            counts[key] += int(suite.get(key, "0"))
    failed = counts["failures"] + counts["errors"]
    if failed:
        return CAUGHT, _first(log, ("FAILED tests/", "ERROR tests/"))
    if counts["tests"] == counts["skipped"]:
        return SKIPPED, _first(log, ("SKIPPED [",)) or "no test ran"
    return NOT_CAUGHT, f"{counts['tests'] - counts['skipped']} passed"


def _first(log: Path, starts: tuple[str, ...]) -> str:
    """The first line of pytest's short summary that begins with one of `starts`."""
    lines = log.read_text(errors="replace").splitlines()
    return next((line for line in lines if line.startswith(starts)), "")


def check(defence: Defence, logs: Path, workers: int, timeout: float, baseline: bool) -> Outcome:
    started = time.monotonic()
    if baseline:
        verdict, detail = _pytest(defence, logs / f"{defence.id}.baseline.log", workers, timeout)
        if verdict != NOT_CAUGHT:
            return Outcome(defence, BROKEN if verdict == CAUGHT else verdict, 0.0, detail)
    with mutated(defence):
        verdict, detail = _pytest(defence, logs / f"{defence.id}.log", workers, timeout)
    return Outcome(defence, verdict, time.monotonic() - started, detail)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/defence-check",
        description=(
            "Remove each defence of tests/security/defences.toml in turn (an exact text "
            "replacement in one source file), re-sign the release, run the defence's attack "
            "tests and restore the file: 'caught' when the tests failed, 'NOT CAUGHT' when "
            "they passed (nothing tests that defence). Exit 1 when any defence is not "
            "caught, timed out or its tests fail without the mutation; 2 for bad input. "
            "The files it mutates must have no uncommitted changes."
        ),
    )
    parser.add_argument("ids", nargs="*", help="defences to check (default: every one)")
    parser.add_argument("--list", action="store_true", help="list the defences and exit")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="first run each defence's tests unmutated: they must pass",
    )
    parser.add_argument("-n", dest="workers", type=int, default=0, help="pytest workers (0)")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds for one defence's tests (600)"
    )
    parser.add_argument(
        "--logs", type=Path, default=Path("runs/defence-check"), help="pytest logs folder"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    defences = load()
    known = {d.id: d for d in defences}
    unknown = [i for i in args.ids if i not in known]
    if unknown:
        print(f"defence-check: unknown defence {', '.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    chosen = [known[i] for i in args.ids] if args.ids else defences
    if args.list:
        for d in chosen:
            print(f"{d.id:32} {d.file}  {' '.join(d.tests)}")
        return 0
    args.logs.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _terminate)
    outcomes = []
    try:
        for defence in chosen:
            outcome = check(defence, args.logs, args.workers, args.timeout, args.baseline)
            outcomes.append(outcome)
            print(
                f"{outcome.verdict:10} {defence.id} ({outcome.seconds:.0f} s) {outcome.detail}",
                flush=True,
            )
    except RuntimeError as exc:
        print(f"defence-check: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted):
        print("defence-check: interrupted; the file was restored", file=sys.stderr)
        return 130
    failing = [o for o in outcomes if o.verdict in FAILING]
    print(
        f"{len(outcomes) - len(failing)} of {len(outcomes)} defences caught or skipped; failing: "
        + (", ".join(o.defence.id for o in failing) or "none")
    )
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
