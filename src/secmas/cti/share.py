"""The CTI agent's whole job in one call (deliverable 004, Section 4.1, Figure 7): scanner
reports in; risk per vulnerability; include-or-anonymise per attribute of an entity; a
STIX 2.1 bundle out (one for all domains, and one per domain for its TAXII collection,
`secmas.cti.taxii`); and the hygiene score of each domain as a subscriber computes it
from the bundle it parsed, for the orchestrator's placement filter
(`secmas.cti.hygiene.exclusions`).

`share` reads files (the only I/O here); `share_reports` does the rest on parsed inputs.
"""

from __future__ import annotations

import csv
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from secmas.cti.errors import CTIInputError, Problem
from secmas.cti.hygiene import hygiene_scores
from secmas.cti.maps import FieldMap, load_field_map
from secmas.cti.reports import MAX_REPORT_BYTES, ScanReport, load_report
from secmas.cti.risk import RiskParams
from secmas.cti.sharing import (
    DECISION_COLUMNS,
    FieldDecision,
    SharedReport,
    SharingRule,
    decide,
)
from secmas.cti.stix import build_bundles, bundle_text, parse_bundle, read_bundle

T = TypeVar("T")
ARGUMENTS = "<arguments>"
"""Where a problem of the arguments themselves (not of a file's content) is said to be."""


@dataclass(frozen=True)
class ShareResult:
    """What the CTI agent produced: the bundles, the decision table, hygiene per domain."""

    bundle_json: str
    """All domains in one bundle."""
    domain_bundles: dict[str, str]
    """Domain → the bundle it publishes (the shared objects and its own)."""
    decisions: tuple[FieldDecision, ...]
    hygiene: dict[str, float]
    """Per domain, computed from the parsed `bundle_json`."""
    shared: tuple[SharedReport, ...]

    @property
    def rows(self) -> list[dict[str, str | float]]:
        """The decision table as flat rows (`secmas.cti.sharing.DECISION_COLUMNS`)."""
        return [d.as_row() for d in self.decisions]

    def write_decisions(self, path: Path) -> Path:
        """The decision table as CSV (publisher-side: it holds the original values)."""
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=DECISION_COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows)
        return path


def share_reports(
    reports: Sequence[ScanReport],
    sensitivity: FieldMap,
    necessity: FieldMap,
    *,
    key: bytes | str,
    rule: SharingRule | None = None,
    params: RiskParams | None = None,
    tlp: str = "amber",
    publisher: str = "secmas CTI agent",
) -> ShareResult:
    """Share parsed reports: decisions, the STIX bundle (validated by re-parsing it with
    `stix2`) and the hygiene per domain computed from the re-parsed bundle."""
    if sensitivity.kind != "sensitivity" or necessity.kind != "necessity":
        raise ValueError("give a sensitivity map, then a necessity map")
    secret = key.encode() if isinstance(key, str) else key
    shared, decisions = decide(reports, sensitivity, necessity, secret, rule, params)
    combined, per_domain = build_bundles(shared, secret, publisher, tlp)
    text = bundle_text(combined)
    received = read_bundle(parse_bundle(text))
    return ShareResult(
        text,
        {domain: bundle_text(bundle) for domain, bundle in per_domain.items()},
        tuple(decisions),
        hygiene_scores(received),
        tuple(shared),
    )


def share(
    report_paths: Sequence[str | Path],
    sensitivity_path: str | Path,
    necessity_path: str | Path,
    *,
    key: bytes | str | None = None,
    rule: SharingRule | None = None,
    params: RiskParams | None = None,
    tlp: str = "amber",
    publisher: str = "secmas CTI agent",
    max_bytes: int = MAX_REPORT_BYTES,
) -> ShareResult:
    """Read reports (`.json`/`.csv`, each at most `max_bytes`) and the two maps, then
    `share_reports`.

    Every file is checked before anything is shared; CTIInputError lists the problems of
    all of them, and of a report given twice (under one name or two). Without `key`, a
    random one is drawn: pseudonyms are then stable within this bundle only (give the
    publisher's key to keep them stable across runs).
    """
    if not report_paths:
        raise CTIInputError([Problem(ARGUMENTS, "reports", "no scanner reports given")])
    problems: list[Problem] = []
    reports: list[ScanReport] = []
    for path in _each_file_once(report_paths, problems):
        report = _attempt(problems, lambda path=path: load_report(path, max_bytes=max_bytes))
        if report is not None:
            reports.append(report)
    problems.extend(_copies(reports))
    sensitivity = _attempt(problems, lambda: load_field_map(sensitivity_path, "sensitivity"))
    necessity = _attempt(problems, lambda: load_field_map(necessity_path, "necessity"))
    if problems or sensitivity is None or necessity is None:
        raise CTIInputError(problems)
    return share_reports(
        reports,
        sensitivity,
        necessity,
        key=secrets.token_bytes(32) if key is None else key,
        rule=rule,
        params=params,
        tlp=tlp,
        publisher=publisher,
    )


def _each_file_once(paths: Sequence[str | Path], problems: list[Problem]) -> list[str | Path]:
    """`paths` without those naming a file named before (the same path, or another path to
    it), each of which is added to `problems`: its findings would be shared twice."""
    first: dict[str, int] = {}
    for index, path in enumerate(paths):
        earlier = first.setdefault(os.path.realpath(path), index)
        if earlier != index:
            message = f"{path} is {paths[earlier]} again: give each report once"
            problems.append(Problem(ARGUMENTS, "reports", message))
    return [paths[index] for index in first.values()]


def _copies(reports: Sequence[ScanReport]) -> list[Problem]:
    """A problem for each report holding what an earlier one holds (a copy under another
    name): its findings would be shared twice."""
    first: dict[ScanReport, str] = {}
    problems = []
    for report in reports:
        earlier = first.setdefault(replace(report, source=""), report.source)
        if earlier != report.source:
            message = f"{report.source} holds the same report as {earlier}: give each report once"
            problems.append(Problem(ARGUMENTS, "reports", message))
    return problems


def _attempt(problems: list[Problem], load: Callable[[], T]) -> T | None:
    """`load()`, or None with its problems added to `problems`."""
    try:
        return load()
    except CTIInputError as exc:
        problems.extend(exc.problems)
        return None
