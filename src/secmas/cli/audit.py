"""`secmas audit verify` and `secmas audit show`: a run's hash-chained audit log.

`verify` re-checks every entry's hash and link (see `secmas.policy.audit` for the rule) and
the anchors: with `--ledger URL` the ones the AuditAnchor contract holds, which the log's
writer cannot take back; otherwise those in the anchors file beside the log, each of which
must carry the audit notary's signature under the pinned notary key (`--trusted-key KEY`, by
default the user's own, `$SECMAS_HOME/audit-notary-ed25519.pub`) and the last of which must
seal the log (`secmas.policy.notary`). A file rewritten along with the log fails: its forged
anchors are not signed by that key.

The chain alone shows an entry edited, removed, inserted or moved, never a log cut short or
rewritten from some entry on: a log without anchors (its anchors file deleted, or holding
none) is therefore an error, unless `--no-anchors` asks for the chain check alone, which
then says that nothing proves the log complete.

Exit codes as for every `secmas` command: 0 intact, 1 tampered, unanchored or not signed by
the notary (naming the first entry or anchor that is not intact), 2 bad input (a file that
cannot be read or is not a log, `file:line: reason`; a ledger that cannot be reached; no
usable notary key).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from secmas.cli.arguments import JsonOption
from secmas.cli.grammar import Typer
from secmas.cli.output import FAILED_RUN, console, fail, json_mode, print_json, say

if TYPE_CHECKING:
    from secmas.policy.audit import AnchorFile, AuditEntry

ANCHORS_FILE = "audit-anchors.json"
"""The anchors file beside a log (`secmas.policy.audit.ANCHORS_FILE`, repeated for the
help; a test keeps the two equal)."""
GENESIS = "0" * 64
"""The `prev` of the first entry (`secmas.policy.audit.GENESIS`)."""
SHOWN_EXPLANATION = 80
"""Characters of an explanation `show` prints; the file holds all of it."""

audit_app = Typer(
    help="A run's hash-chained audit log: verify it against its anchors, show it.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add `audit verify` and `audit show` to the `secmas` command."""
    app.add_typer(audit_app, name="audit")


T = TypeVar("T")


def _read(reader: Callable[[Path], T], path: Path) -> T:
    """`reader(path)`, with an unreadable or malformed file reported as bad input."""
    from secmas.policy.audit import AuditFormatError

    try:
        return reader(path)
    except OSError as exc:
        raise fail(f"{path}: cannot read file: {exc.strerror or exc}") from None
    except AuditFormatError as exc:
        raise fail(str(exc)) from None


def _entries(log: Path) -> list[AuditEntry]:
    from secmas.policy.audit import read_log

    return _read(read_log, log)


def _ledger_points(url: str, anchors: AnchorFile) -> list[tuple[int, str]]:
    """The (count, head) anchors of the log on the ledger at `url`."""
    from secmas.ledger.accounts import Account
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
    except (ValueError, LedgerError) as exc:
        raise fail(f"--ledger {url}: {exc}") from None
    return [(r.count, r.head.hex()) for r in records]


LogArgument = Annotated[
    Path,
    typer.Argument(metavar="LOG", help="audit log (JSON lines), e.g. runs/<id>/audit.jsonl"),
]


@audit_app.command("verify")
def verify_command(
    log: LogArgument,
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
    trusted_key: Annotated[
        str | None,
        typer.Option(
            "--trusted-key",
            metavar="KEY",
            help="public key of the audit notary that signed the anchors file: 64 hex digits "
            "or a PEM file (default: yours, $SECMAS_HOME/audit-notary-ed25519.pub)",
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
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="print one JSON document instead: {log, ok, entries, checked, head, anchors: "
            "{source, confirmed, total, covered}, first_bad: {line, seq} or null, message} "
            "(exit 1 still when the log is not intact)",
        ),
    ] = False,
) -> None:
    """Check that the log is intact: every entry's hash and link, and its anchors.

    Example: secmas audit verify runs/mine/audit.jsonl"""
    if no_anchors and (anchors is not None or ledger is not None):
        raise fail("--no-anchors checks the chain alone: drop --anchors and --ledger")
    if no_anchors and trusted_key is not None:
        raise fail("--no-anchors checks the chain alone: drop --trusted-key")
    if ledger is not None and trusted_key is not None:
        raise fail(
            "--ledger reads the anchors on the ledger: drop --trusted-key (it checks the file)"
        )
    with json_mode(as_json):
        document = _verify(log, anchors, ledger, trusted_key, no_anchors, as_json)
        if as_json:
            print_json(document)
        if not document["ok"]:
            raise fail(document["message"], FAILED_RUN)
        if not as_json:
            say(document["message"])


@dataclass(frozen=True)
class _Anchors:
    """The (count, head) anchors a log is checked against, where they came from, the count
    the notary sealed, and why the file's anchors were refused (None: they were not)."""

    points: list[tuple[int, str]]
    source: str
    sealed: int | None = None
    refused: str | None = None


def _verify(
    log: Path,
    anchors: Path | None,
    ledger: str | None,
    trusted_key: str | None,
    no_anchors: bool,
    as_json: bool,
) -> dict[str, Any]:
    """The verdict on `log`, as `verify --json` prints it; without `as_json` the summary
    is printed on the way (a missing anchors file fails before it)."""
    from rich.table import Table
    from rich.text import Text

    from secmas.policy.audit import verify

    entries = _entries(log)
    anchors_path = anchors or log.parent / ANCHORS_FILE
    missing = None
    if no_anchors:
        found = _Anchors([], "not checked (--no-anchors)")
    elif anchors is None and not anchors_path.exists():
        needs = " (--ledger needs it: it names the contract and the log id)" if ledger else ""
        missing = (
            f"{log}: no anchors file {anchors_path}{needs}: nothing shows the log was not cut "
            "short or rewritten (--anchors FILE names it; --no-anchors checks the chain alone)"
        )
        if not as_json:
            raise fail(missing, FAILED_RUN)
        found = _Anchors([], f"no anchors file {anchors_path}")
    else:
        found = _anchor_points(anchors_path, ledger, trusted_key)
    points, refused = found.points, found.refused
    result = verify(entries, points, found.sealed)
    head = entries[-1].hash if entries else GENESIS
    if not as_json:
        summary = Table.grid(padding=(0, 2))
        for key, value in (
            ("audit log", str(log)),
            ("entries", f"{result.checked} of {len(entries)} checked"),
            ("anchors", f"{result.anchors_confirmed} of {len(points)} confirmed, {found.source}"),
            ("head", head if entries else f"{GENESIS} (empty log)"),
        ):
            summary.add_row(Text(key, style="bold"), Text(value))
        console.print(summary)
    covered = max(count for count, _head in points) if points else 0
    bad = result.first_bad
    first_bad = None
    if not result.ok and bad is not None and bad < len(entries):
        first_bad = {"line": bad + 1, "seq": entries[bad].seq}
    ok = result.ok and missing is None and refused is None
    if missing is not None:
        message = missing
    elif refused is not None:
        message = f"{anchors_path}: {refused}"
    elif not result.ok:
        message = f"{log}: {result.reason}"
        if first_bad is not None:
            message = f"{log}:{bad + 1}: entry seq {first_bad['seq']}: {result.reason}"  # type: ignore[operator]
    elif no_anchors:
        message = f"{log}: chain unbroken, not checked against anchors (--no-anchors)"
    elif entries and not points:
        ok = False
        message = (
            f"{log}: {anchors_path} holds no anchors: nothing shows the log was not cut short "
            "or rewritten (--no-anchors checks the chain alone)"
        )
    else:
        tail = f" (entries {covered} to {len(entries) - 1} after the last anchor)"
        message = f"{log}: intact" + (tail if covered < len(entries) else "")
    return {
        "log": str(log),
        "ok": ok,
        "entries": len(entries),
        "checked": result.checked,
        "head": head,
        "anchors": {
            "source": found.source,
            "confirmed": result.anchors_confirmed,
            "total": len(points),
            "covered": covered,
        },
        "first_bad": first_bad,
        "message": message,
    }


def _anchor_points(anchors_path: Path, ledger: str | None, trusted_key: str | None) -> _Anchors:
    """The anchors on the ledger, or those in the file that the pinned notary key signed
    (refused when one does not hold or none seals the log). An anchors file that cannot be
    read, or no usable notary key, is bad input."""
    from secmas.policy.audit import read_anchors
    from secmas.policy.notary import NotaryError, check_anchors, pinned_key

    anchor_file = _read(read_anchors, anchors_path)
    if ledger is not None:
        return _Anchors(_ledger_points(ledger, anchor_file), f"on the ledger {ledger}")
    if not anchor_file.anchors:
        return _Anchors([], f"none in {anchors_path}")
    try:
        key = pinned_key(trusted_key)
    except NotaryError as exc:
        raise fail(f"--trusted-key: {exc}" if trusted_key is not None else str(exc)) from None
    try:
        signed = check_anchors(anchor_file, key)
    except NotaryError as exc:
        source = f"in {anchors_path}, refused: not signed or sealed under the pinned notary key"
        return _Anchors([], source, refused=str(exc))
    source = f"signed by the notary in {anchors_path}"
    if anchor_file.chain != "memory":
        source += f" (--ledger {anchor_file.chain} checks the ledger's)"
    if signed.unsigned:
        source += f", {signed.unsigned} unsigned left out"
    return _Anchors(signed.points, source, signed.sealed)


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SHOWN_EXPLANATION else line[: SHOWN_EXPLANATION - 1] + "…"


@audit_app.command("show")
def show(
    log: Annotated[Path, typer.Argument(metavar="LOG", help="audit log (JSON lines)")],
    last: Annotated[
        int | None, typer.Option("--last", min=1, metavar="N", help="only the last N entries")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the entries of a log (not verified: `secmas audit verify` does that).

    Example: secmas audit show runs/mine/audit.jsonl --last 20"""
    from rich.table import Table
    from rich.text import Text

    entries = _entries(log)
    shown = entries[-last:] if last else entries
    if as_json:
        print_json(
            {
                "log": str(log),
                "entries": len(entries),
                "verified": False,
                "shown": [asdict(entry) for entry in shown],
            }
        )
        return
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
