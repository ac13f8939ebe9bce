"""`secmas audit verify` and `secmas audit show`: a run's hash-chained audit log.

`verify` re-checks every entry's hash and link (see `secmas.policy.audit` for the rule) and
the anchors: those copied into the anchors file beside the log, or with `--ledger URL` the
ones the AuditAnchor contract holds, which the log's writer cannot take back. Only the
ledger's copy proves that the log was not cut short or rewritten after an anchor; the file
copy can be rewritten along with the log.

The chain alone shows an entry edited, removed, inserted or moved, never a log cut short or
rewritten from some entry on: a log without anchors (its anchors file deleted, or holding
none) is therefore an error, unless `--no-anchors` asks for the chain check alone, which
then says that nothing proves the log complete.

Exit codes as for every `secmas` command: 0 intact, 1 tampered or unanchored (naming the
first entry that is not intact: file line, seq, reason), 2 bad input (a file that cannot be
read or is not a log, `file:line: reason`; a ledger that cannot be reached).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from secmas.cli.output import FAILED_RUN, console, fail, say
from secmas.policy.audit import (
    ANCHORS_FILE,
    GENESIS,
    AnchorFile,
    AuditFormatError,
    read_anchors,
    read_log,
    verify,
)

SHOWN_EXPLANATION = 80
"""Characters of an explanation `show` prints; the file holds all of it."""

audit_app = typer.Typer(
    help="A run's hash-chained audit log: verify it against its anchors, show it.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add `audit verify` and `audit show` to the `secmas` command."""
    app.add_typer(audit_app, name="audit")


T = TypeVar("T")


def _read(reader: Callable[[Path], T], path: Path) -> T:
    """`reader(path)`, with an unreadable or malformed file reported as bad input."""
    try:
        return reader(path)
    except OSError as exc:
        raise fail(f"{path}: cannot read file: {exc.strerror or exc}") from None
    except AuditFormatError as exc:
        raise fail(str(exc)) from None


def _ledger_points(url: str, anchors: AnchorFile) -> list[tuple[int, str]]:
    """The (count, head) anchors of the log on the ledger at `url`."""
    # web3 and py-evm load only here
    from eth_account import Account
    from web3.exceptions import Web3Exception

    from secmas.ledger.connection import connect
    from secmas.ledger.errors import LedgerError

    # A verifier sends nothing: a throwaway key spares asking for unlocked accounts, which
    # production nodes do not have (and do not need for calls). The in-process EVM and
    # Hardhat check that a call's sender could pay its gas: call from their first account.
    viewer = Account.create().key
    try:
        ledger = connect(url, mlfo_key=viewer, secaas_key=viewer)
        reader = ledger.attach_audit_anchor(anchors.contract)
        funded = ledger.chain.node_accounts()
        if funded:
            reader = reader.as_(funded[0])
        records = reader.anchors(anchors.log_id)
    except (ValueError, LedgerError, Web3Exception) as exc:
        raise fail(f"--ledger {url}: {exc}") from None
    return [(r.count, r.head.hex()) for r in records]


@audit_app.command("verify")
def verify_command(
    log: Annotated[Path, typer.Argument(help="audit log (JSON lines), e.g. runs/<id>/audit.jsonl")],
    anchors: Annotated[
        Path | None,
        typer.Option(
            "--anchors",
            metavar="FILE",
            help=f"anchors file (default: {ANCHORS_FILE} beside the log)",
        ),
    ] = None,
    ledger: Annotated[
        str | None,
        typer.Option(
            "--ledger",
            metavar="URL",
            help="read the anchors from the contract on this Ethereum JSON-RPC node (http://…)",
        ),
    ] = None,
    no_anchors: Annotated[
        bool,
        typer.Option(
            "--no-anchors",
            help="check the hash chain alone, for a log that was never anchored (nothing "
            "then shows a log cut short or rewritten from some entry on)",
        ),
    ] = False,
) -> None:
    """Check that the log is intact: every entry's hash and link, and its anchors."""
    if no_anchors and (anchors is not None or ledger is not None):
        raise fail("--no-anchors checks the chain alone: drop --anchors and --ledger")
    entries = _read(read_log, log)
    anchors_path = anchors or log.parent / ANCHORS_FILE
    if no_anchors:
        points, source = [], "not checked (--no-anchors)"
    else:
        points, source = _anchor_points(log, anchors_path, anchors is not None, ledger)
    result = verify(entries, points)
    summary = Table.grid(padding=(0, 2))
    for key, value in (
        ("audit log", str(log)),
        ("entries", f"{result.checked} of {len(entries)} checked"),
        ("anchors", f"{result.anchors_confirmed} of {len(points)} confirmed, {source}"),
        ("head", entries[-1].hash if entries else f"{GENESIS} (empty log)"),
    ):
        summary.add_row(Text(key, style="bold"), Text(value))
    console.print(summary)
    if not result.ok:
        bad = result.first_bad
        if bad is not None and bad < len(entries):
            raise fail(
                f"{log}:{bad + 1}: entry seq {entries[bad].seq}: {result.reason}", FAILED_RUN
            )
        raise fail(f"{log}: {result.reason}", FAILED_RUN)
    if no_anchors:
        say(f"{log}: chain unbroken, not checked against anchors (--no-anchors)")
        return
    if entries and not points:
        raise fail(
            f"{log}: {anchors_path} holds no anchors: nothing shows the log was not cut short "
            "or rewritten (--no-anchors checks the chain alone)",
            FAILED_RUN,
        )
    covered = max(count for count, _head in points) if points else 0
    tail = f" (entries {covered} to {len(entries) - 1} after the last anchor)"
    say(f"{log}: intact" + (tail if covered < len(entries) else ""))


def _anchor_points(
    log: Path, anchors_path: Path, named: bool, ledger: str | None
) -> tuple[list[tuple[int, str]], str]:
    """The (count, head) anchors of the log and where they came from. The anchors file
    beside the log missing is a failed check (exit 1), not an unanchored success; one
    named by --anchors that cannot be read is bad input (exit 2)."""
    if not named and not anchors_path.exists():
        needs = " (--ledger needs it: it names the contract and the log id)" if ledger else ""
        raise fail(
            f"{log}: no anchors file {anchors_path}{needs}: nothing shows the log was not cut "
            "short or rewritten (--anchors FILE names it; --no-anchors checks the chain alone)",
            FAILED_RUN,
        )
    anchor_file = _read(read_anchors, anchors_path)
    if ledger is not None:
        return _ledger_points(ledger, anchor_file), f"on the ledger {ledger}"
    url = "URL" if anchor_file.chain == "memory" else anchor_file.chain
    return anchor_file.points(), f"copied in {anchors_path} (--ledger {url} checks the ledger's)"


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SHOWN_EXPLANATION else line[: SHOWN_EXPLANATION - 1] + "…"


@audit_app.command("show")
def show(
    log: Annotated[Path, typer.Argument(help="audit log (JSON lines)")],
    last: Annotated[
        int | None, typer.Option("--last", min=1, help="only the last N entries")
    ] = None,
) -> None:
    """List the entries of a log (not verified: `secmas audit verify` does that)."""
    entries = _read(read_log, log)
    shown = entries[-last:] if last else entries
    table = Table(title=Text(f"{log}: {len(shown)} of {len(entries)} entries (unverified)"))
    for column in ("seq", "time (s)", "actor", "decision", "explanation"):
        table.add_column(column, overflow="fold")
    for entry in shown:
        table.add_row(
            str(entry.seq),
            f"{entry.time:.3f}",
            Text(entry.actor),
            Text(entry.decision),
            Text(_short(entry.explanation)),
        )
    console.print(table)
