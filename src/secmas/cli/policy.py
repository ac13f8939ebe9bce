"""`secmas policy check`: validate security intents or an SSLA document, and show the rules.

FILE is either an intent file (YAML, `intents: [...]`, see `secmas.policy.intents`), whose
intents are translated into Security SLAs, or an SSLA document (XML, see
`secmas.policy.ssla`), which is parsed safely and checked. The guarantee terms (KPI formula,
breach condition, remediation) are printed as a table; `--out DIR` writes each SSLA as XML.
Exit codes as for every `secmas` command: 0 valid, 2 bad input (with one line per problem
naming the file, the line or element, the field and the reason; never a traceback).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from secmas.cli.arguments import ForceFileOption, check_new_folder
from secmas.cli.grammar import Typer
from secmas.cli.output import BAD_INPUT, console, error, fail, line, print_json, say

if TYPE_CHECKING:
    from rich.table import Table

    from secmas.policy.ssla import SSLA

policy_app = Typer(help="Security intents and Security SLAs (SSLAs).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `policy check` to the `secmas` command."""
    app.add_typer(policy_app, name="policy")


@policy_app.command("check")
def check(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="intent file (YAML) or SSLA document (XML)")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="write each SSLA to this folder as <ssla id>.xml"
        ),
    ] = None,
    force: ForceFileOption = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="print one JSON document instead: {file, valid: true, holds, sslas, conflicts, "
            "written} or {file, valid: false, problems}",
        ),
    ] = False,
) -> None:
    """Validate an intent file or an SSLA document; print the guarantee terms it compiles to
    and the conflicts among them.

    Example: secmas policy check scenarios/policies/slice-isolation.yaml -o sslas/"""
    from secmas.policy.conflicts import check as conflict_check

    check_new_folder(force, "--out", out)
    if as_json:
        _check_as_json(file, out)
        return
    sslas, what = read_policy(file)
    console.print(terms_table(sslas))
    for conflict in conflict_check(sslas).conflicts:
        # explain() reads "conflict on slice …": the label is "policy", not "conflict" again
        console.print(line(("policy", "yellow"), " ", conflict.explain()), soft_wrap=True)
    if out is not None:
        _write(sslas, out)
    console.print(line((f"{file}: valid", "green"), f", {what}"), soft_wrap=True)


def _check_as_json(file: Path, out: Path | None) -> None:
    """`check --json`: the SSLAs with every field, the conflicts with the check's sentence,
    the XML files written; or the problems, exit 2."""
    from secmas.policy.conflicts import check as conflict_check
    from secmas.policy.documents import PolicyInputError
    from secmas.policy.documents import read_policy as read_document

    try:
        sslas, what = read_document(file)
    except PolicyInputError as exc:
        print_json({"file": str(file), "valid": False, "problems": list(exc.problems)})
        raise typer.Exit(BAD_INPUT) from None
    conflicts = [{**asdict(c), "explanation": c.explain()} for c in conflict_check(sslas).conflicts]
    written = [] if out is None else _write(sslas, out, quiet=True)
    print_json(
        {
            "file": str(file),
            "valid": True,
            "holds": what,
            "sslas": sslas,
            "conflicts": conflicts,
            "written": written,
        }
    )


def read_policy(file: Path) -> tuple[list[SSLA], str]:
    """The SSLAs of an intent file or an SSLA document, and what it held; bad input is
    reported (file, line or element, reason) and exits 2."""
    from secmas.policy.documents import PolicyInputError
    from secmas.policy.documents import read_policy as read_document

    try:
        return read_document(file)
    except PolicyInputError as exc:
        for problem in exc.problems:
            error(problem)
        raise typer.Exit(BAD_INPUT) from None


def _write(sslas: list[SSLA], folder: Path, quiet: bool = False) -> list[Path]:
    """Each SSLA as `<id>.xml` in `folder`, each file said unless `quiet`; exit 2 when the
    folder cannot be written."""
    from secmas.policy.ssla import to_xml

    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for ssla in sslas:
            target = folder / f"{ssla.id}.xml"
            target.write_text(to_xml(ssla), encoding="utf-8")
            written.append(target)
            if not quiet:
                say(f"wrote {target}")
    except OSError as exc:
        raise fail(f"--out {folder}: cannot write: {exc.strerror or exc}") from None
    return written


def terms_table(sslas: list[SSLA]) -> Table:
    """One row per guarantee term: the SSLA (id, name, intent, slice); the term with its
    objective, KPI and where it is measured; the KPI formula (and the named sets left to be
    supplied); the breach condition; the remediation actions."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Security SLAs", show_lines=True)
    for column in ("SSLA", "term", "KPI formula", "breach", "remediation"):
        table.add_column(column, overflow="fold")
    for ssla in sslas:
        about = (
            ssla.id,
            ssla.name,
            f"intent {ssla.intent}" if ssla.intent else "",
            f"slice {ssla.slice}" if ssla.slice else "slice: not named",
        )
        for term in ssla.terms:
            indicator = term.indicator
            source = indicator.source
            unit = f" ({indicator.unit})" if indicator.unit else ""
            measured = (
                term.name,
                " ".join(term.statement().split()),
                f"{indicator.kpi}{unit}",
                f"{source.kind.value} {source.name}",
                f"by {source.collector}",
                f"every {indicator.period:g} s",
            )
            formula = (
                indicator.formula,
                *(
                    f"(set {name}: not defined in the document; a run needs its <namedSet>)"
                    for name in indicator.unbound_sets()
                ),
            )
            actions = tuple(
                f"{a.kind} → {a.target}" if a.target else a.kind for a in term.remediation
            )
            cells = (about, measured, formula, (term.breach,), actions)
            table.add_row(*(Text("\n".join(part for part in cell if part)) for cell in cells))
    return table
