"""The adaptive defence in the `secmas` command: a scenario's `cti` and `mtd` sections
become step loops of the run, their outcome is printed and written beside the run; and
`secmas cti share` shares scanner reports on their own."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from secmas.cli.arguments import ForceFileOption, check_new_files
from secmas.cli.grammar import CTI_KEYS_VARIABLE as KEYS_VARIABLE
from secmas.cli.grammar import TAXII_PASSWORD_VARIABLE as PASSWORD_VARIABLE
from secmas.cli.grammar import TAXII_USER_VARIABLE as USER_VARIABLE
from secmas.cli.grammar import Typer
from secmas.cli.output import console, fail, json_mode, print_json, say, styled

if TYPE_CHECKING:
    from rich.table import Table

    from secmas.cti.share import ShareResult
    from secmas.cti.taxii import Exchange

TaxiiOption = Annotated[
    str | None,
    typer.Option(
        "--taxii",
        metavar="URL",
        help="the scenario's cti section: publish the domains' CTI to this existing TAXII 2.1 "
        "server (discovery URL; a collection titled with each domain's name; user in "
        f"${USER_VARIABLE}, password in ${PASSWORD_VARIABLE}) instead of a medallion "
        "server started for the run on loopback",
    ),
]

cti_app = Typer(help="Cyber threat intelligence: selective sharing of scanner reports.")


def register(app: typer.Typer) -> None:
    """Add `cti share` to the `secmas` command."""
    app.add_typer(cti_app, name="cti")


# -- what is printed ----------------------------------------------------------------------
def cti_table(cti: dict[str, Any]) -> Table:
    """Hygiene per domain, the PoPs in it, and whether they may take sensitive goals."""
    from rich.table import Table

    table = Table(
        title=f"CTI hygiene (threshold {cti['threshold']:g}; sensitive goals only "
        "go to PoPs of domains at or above it)"
    )
    for column in ("domain", "hygiene", "PoPs", "sensitive goals"):
        table.add_column(column)
    pops_of: dict[str, list[str]] = {}
    for pop, domain in cti["domains"].items():
        pops_of.setdefault(domain, []).append(pop)
    for domain, score in cti["hygiene"].items():
        pops = pops_of.get(domain, [])
        allowed = not any(pop in cti["excluded"] for pop in pops)
        table.add_row(
            domain,
            f"{score:.3f}",
            ", ".join(pops) or "-",
            styled("may bid", "green") if allowed else styled("refused", "red"),
        )
    return table


def mtd_table(mtd: dict[str, Any]) -> Table:
    """Every planned move: when, how, where from and to, and its predicted cost."""
    from rich.table import Table

    table = Table(
        title="moving target defence (proactive moves; downtime predicted on the path to the "
        "PoP the auction chose, planned in brackets)"
    )
    columns = (
        "starts (s)", "CNF", "k", "method", "from", "to", "path MB/s", "arrived (s)",
        "downtime (s)",
    )  # fmt: skip
    for column in (*columns, "outcome"):
        table.add_column(column)
    for move in mtd["moves"]:
        outcome = move["outcome"]
        if move["reason"]:
            outcome += f": {move['reason']}"
        table.add_row(
            f"{move['planned_at']:.1f}",
            move["cnf"],
            str(move["k"]),
            move["method"],
            move["source"] or "-",
            move["destination"] or "-",
            "-" if move.get("bandwidth_mbps") is None else f"{move['bandwidth_mbps']:g}",
            "-" if move["arrived_at"] is None else f"{move['arrived_at']:g}",
            f"{move['predicted_downtime_s']:.2f} ({move['planned_downtime_s']:.2f})",
            outcome,
        )
    return table


def print_adaptive(report: dict[str, Any]) -> None:
    """The CTI and MTD sections of a finished run."""
    cti, mtd = report.get("cti"), report.get("mtd")
    if cti:
        console.print(cti_table(cti))
        refused = sum(r["count"] for r in cti["refusals"])
        taxii = cti["taxii"]
        polled = sum(r["objects"] for r in taxii["received"])
        unverified = sum(x["count"] for r in taxii["received"] for x in r.get("refused", []))
        say(
            f"CTI: {cti['findings']} findings shared as STIX 2.1 ({cti['bundle']}), each "
            f"domain's bundle signed with its own key and published to its TAXII 2.1 "
            f"collection on {taxii['server']}; hygiene from the {polled} objects the "
            f"subscriber polled ({unverified} refused as unsigned, forged or another "
            f"domain's); {refused} calls for proposals of sensitive goals refused by "
            "low-hygiene PoPs"
        )
    if mtd:
        console.print(mtd_table(mtd))
        if mtd.get("quota_judged_on") == "measured":
            from secmas.cli.moves import measured_moves_table

            console.print(measured_moves_table(mtd))
        for unit in mtd["units"]:
            quotas = ", ".join(f"{m} {q}" for m, q in unit["quotas"].items())
            spent = ", ".join(f"{c} {s:.2f} s" for c, s in unit["downtime_spent_s"].items())
            say(
                f"MTD {unit['name']}: downtime budget {unit['budget_s']:.2f} s per CNF "
                f"(moves it allows per method: {quotas}); spent: {spent}"
            )
            for k, spread in unit["arrival_spread_s"].items():
                say(f"MTD {unit['name']} move {k}: members arrived within {spread:g} s")
        for replan in mtd.get("replans", []):
            say(
                f"MTD {replan['unit']}: re-planned at {replan['at']:g} s ({replan['reason']}): "
                f"{replan['planned']} moves"
            )
        if mtd.get("cost_usd"):
            say(f"MTD: moves cost {mtd['cost_usd']:.5f} $ (resources held twice while moving)")
        if not mtd["within_quota"]:
            say("MTD: a CNF exceeded its downtime budget")


# -- secmas cti share ---------------------------------------------------------------------
@cti_app.command("share")
def share_command(
    reports: Annotated[
        list[Path],
        typer.Argument(metavar="REPORT", help="scanner reports: secmas-scan/1 JSON or OpenVAS CSV"),
    ],
    sensitivity: Annotated[
        Path, typer.Option(metavar="FILE", help="the publisher's sensitivity map (YAML)")
    ],
    necessity: Annotated[
        Path, typer.Option(metavar="FILE", help="the subscriber's necessity map (YAML)")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="write the STIX 2.1 bundle here (default: print it)",
        ),
    ] = None,
    decisions: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="write the per-field decision table (CSV) here"),
    ] = None,
    threshold: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, metavar="X", help="hygiene below which a domain is flagged"),
    ] = 0.5,
    taxii: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="publish each domain's bundle over TAXII 2.1 and take hygiene from what a "
            "subscriber polls back: 'local' starts medallion on loopback for this command, "
            "a URL names an existing server's discovery endpoint (one collection titled "
            f"with each domain's name; user --taxii-user, password in ${PASSWORD_VARIABLE})",
        ),
    ] = None,
    taxii_user: Annotated[
        str, typer.Option(metavar="NAME", help="user on the --taxii server")
    ] = "secmas",
    keys: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="with --taxii: the domains' Ed25519 keys as a JWK Set (kid = domain; private "
            "halves for the domains published, public ones pinned for polling; default "
            f"${KEYS_VARIABLE}, else keys drawn for this command)",
        ),
    ] = None,
    max_report_mb: Annotated[
        float,
        typer.Option(min=0.001, metavar="X", help="refuse scanner reports larger than this (MiB)"),
    ] = 16.0,
    force: ForceFileOption = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="print one JSON document instead: {hygiene, threshold, flagged, shared, "
            "objects, taxii, written} and, without --out, the bundle itself",
        ),
    ] = False,
) -> None:
    """Share vulnerability reports as STIX 2.1, each attribute of a host, software or
    vulnerability included or anonymised by its sensitivity, the subscriber's necessity
    and the entity's risk (004_… Section 4.1); print the hygiene of each domain.

    Example:

    \b
      secmas cti share scenarios/cti/edge-a.json -o bundle.json \\
        --sensitivity scenarios/cti/sensitivity.yaml \\
        --necessity scenarios/cti/necessity.yaml"""
    check_new_files(force, ("--out", out), ("--decisions", decisions))
    with json_mode(as_json):
        _share(reports, sensitivity, necessity, out, decisions, threshold, taxii, taxii_user,
               keys, max_report_mb, as_json)  # fmt: skip


def _share(
    reports: list[Path],
    sensitivity: Path,
    necessity: Path,
    out: Path | None,
    decisions: Path | None,
    threshold: float,
    taxii: str | None,
    taxii_user: str,
    keys: Path | None,
    max_report_mb: float,
    as_json: bool,
) -> None:
    from secmas.cti.errors import CTIInputError
    from secmas.cti.share import share
    from secmas.cti.signing import KeyFileError
    from secmas.cti.taxii import TaxiiError

    try:
        result = share(reports, sensitivity, necessity, max_bytes=int(max_report_mb * 2**20))
    except CTIInputError as exc:
        raise fail(str(exc)) from None
    if out is not None:
        _write("--out", out, lambda: out.write_text(result.bundle_json, encoding="utf-8"))
    if decisions is not None:
        _write("--decisions", decisions, lambda: result.write_decisions(decisions))
    hygiene = result.hygiene
    exchanged = None
    if taxii is not None:
        try:
            exchanged = _exchange(result.domain_bundles, taxii, taxii_user, keys)
        except TaxiiError as exc:
            raise fail(f"--taxii {taxii}: {exc}") from None
        except KeyFileError as exc:
            source = "--keys" if keys is not None else f"${KEYS_VARIABLE}"
            raise fail(f"{source}: {exc}") from None
        hygiene = exchanged.hygiene
    if as_json:
        print_json(_share_json(result, hygiene, threshold, exchanged, out, decisions))
        return
    if out is None:
        typer.echo(result.bundle_json)
        return
    from rich.table import Table

    table = Table(title="shared attributes")
    for column in ("field", "included", "anonymised"):
        table.add_column(column)
    for name, (kept, hidden) in _shared(result).items():
        table.add_row(name, str(kept), str(hidden))
    console.print(table)
    if exchanged is not None:
        for sent, got in zip(exchanged.published, exchanged.received, strict=True):
            say(
                f"TAXII {exchanged.url}: {sent.domain} published {sent.succeeded} objects "
                f"({sent.failed} refused); the subscriber polled {got.objects}"
            )
    for domain, score in sorted(hygiene.items()):
        flag = "" if score >= threshold else f"  below {threshold:g}: keep sensitive goals away"
        say(f"hygiene {domain}: {score:.3f}{flag}")
    bundle = json.loads(result.bundle_json)
    say(f"wrote {out} ({len(bundle['objects'])} STIX objects)")


def _shared(result: ShareResult) -> dict[str, list[int]]:
    """Per field: how many values were included, how many anonymised."""
    counts: dict[str, list[int]] = {}
    for row in result.decisions:
        counts.setdefault(row.field, [0, 0])[row.decision != "include"] += 1
    return counts


def _share_json(
    result: ShareResult,
    hygiene: dict[str, float],
    threshold: float,
    exchanged: Exchange | None,
    out: Path | None,
    decisions: Path | None,
) -> dict[str, Any]:
    """`cti share --json`: hygiene per domain and the flagged ones, what was shared, where
    it went; the bundle itself when no --out took it."""
    bundle = json.loads(result.bundle_json)
    document: dict[str, Any] = {
        "hygiene": dict(sorted(hygiene.items())),
        "threshold": threshold,
        "flagged": sorted(d for d, score in hygiene.items() if score < threshold),
        "shared": {
            name: {"included": kept, "anonymised": hidden}
            for name, (kept, hidden) in _shared(result).items()
        },
        "objects": len(bundle["objects"]),
        "taxii": None,
        "written": [str(p) for p in (out, decisions) if p is not None],
    }
    if exchanged is not None:
        document["taxii"] = {
            "url": exchanged.url,
            "domains": [
                {
                    "domain": sent.domain,
                    "published": sent.succeeded,
                    "refused": sent.failed,
                    "polled": got.objects,
                    "refused_objects": [asdict(x) for x in got.refused],
                }
                for sent, got in zip(exchanged.published, exchanged.received, strict=True)
            ],
            "keys": exchanged.keys,
        }
    if out is None:
        document["bundle"] = bundle
    return document


def _write(option: str, path: Path, write: Callable[[], object]) -> None:
    """`write()` the file `option` names, or exit 2 naming the option, the path and why
    (the path is the user's: a missing folder or a read-only place). Files are written
    before anything is published over TAXII, so a bad path stops the command first."""
    try:
        write()
    except OSError as exc:
        raise fail(f"{option} {path}: cannot write: {exc.strerror or exc}") from None


def _exchange(bundles: dict[str, str], taxii: str, user: str, keys: Path | None) -> Exchange:
    """Publish and poll on a medallion of this command's (`local`) or on the server at
    `taxii` (password from the environment), each bundle signed with its domain's key from
    `keys` (or $SECMAS_CTI_KEYS; drawn for the command when neither is given)."""
    import tempfile

    from secmas.cti.signing import load_keys
    from secmas.cti.taxii import TaxiiAccess, TaxiiError, exchange, exchange_on_medallion

    key_file = keys if keys is not None else os.environ.get(KEYS_VARIABLE)
    signers, trusted = (None, None)
    if key_file is not None:
        signers, trusted = load_keys(key_file).for_exchange(bundles)
    if taxii == "local":
        with tempfile.TemporaryDirectory(prefix="secmas-taxii-") as folder:
            return exchange_on_medallion(bundles, Path(folder), signers, trusted)
    if not taxii.startswith(("http://", "https://")):
        raise TaxiiError("expected 'local' or the http(s) URL of a TAXII 2.1 discovery endpoint")
    access = TaxiiAccess(taxii, user, os.environ.get(PASSWORD_VARIABLE, ""))
    return exchange(bundles, dict.fromkeys(bundles, access), access, signers, trusted)
