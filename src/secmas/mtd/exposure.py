"""What an attacker can reach on a moving CNF: its vulnerabilities, read from the CTI a
subscriber received, and its exposure at each PoP it has run on (004_… Section 2.2, risk
assessment: the scanner finds the CPEs a CNF runs and the CVEs against them; the ASP
follows from their CVSS base and exploitability scores, `secmas.mtd.attack`).

Vulnerabilities from CTI: a CNF names the software its image runs as CPE 2.3 names
(vendor, product, version). A finding the CTI shares applies to the CNF when its CPE has
the same vendor and product and either the same version or a version the publisher
anonymised by generalisation (`*`): the subscriber cannot rule it out, so it counts. Each
CVE counts once per CNF. Findings whose CVSS vector is neither v3.x nor v2 (a CVSS 4.0
vector has no exploitability subscore) are left out and listed as unscored.

Exposure per PoP: a move changes the attacker's target (host, addresses, neighbours), so
the reconnaissance and foothold gathered on the host context the CNF left are of no use
against the new one, but they are not forgotten: back on a PoP it ran on before, the CNF
faces an attacker who resumes where it stopped. `Residence` keeps the seconds the CNF has
spent on each PoP; the time since the last move that the ASP formula takes is the
destination's own accumulated exposure, 0 only on a PoP the CNF never ran on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from secmas.mtd.attack import AttackModel, Vulnerability, asp


@dataclass(frozen=True)
class CTIFinding:
    """One finding as a CTI subscriber received it (plain data from `secmas.cti`)."""

    cve: str
    cpe: str
    cvss_vector: str
    domain: str = ""


def findings_of(reports: Iterable[Any]) -> list[CTIFinding]:
    """The findings of shared reports (`secmas.cti` SharedReport: `.findings`, each with
    `.fields` and `.domain`) as plain data."""
    return [
        CTIFinding(
            f.fields.get("cve", ""),
            f.fields.get("cpe", ""),
            f.fields.get("cvss_vector", ""),
            f.domain,
        )
        for report in reports
        for f in report.findings
    ]


def _product(cpe: str) -> tuple[str, str, str]:
    """(vendor, product, version) of a CPE 2.3 formatted string."""
    parts = cpe.split(":")
    if len(parts) < 6 or parts[:2] != ["cpe", "2.3"]:
        raise ValueError(f"not a CPE 2.3 name: {cpe!r}")
    return parts[3].lower(), parts[4].lower(), parts[5].lower()


def applies(software: str, shared: str) -> bool:
    """Whether a finding on CPE `shared` applies to a CNF running `software`."""
    vendor, product, version = _product(software)
    s_vendor, s_product, s_version = _product(shared)
    return (vendor, product) == (s_vendor, s_product) and s_version in (version, "*", "-")


@dataclass(frozen=True)
class Matched:
    """A CNF's vulnerabilities from CTI, and what could not be scored."""

    vulnerabilities: tuple[Vulnerability, ...]
    unscored: tuple[str, ...]
    """CVE ids that apply but whose vector is neither CVSS v3.x nor v2."""


def cnf_vulnerabilities(software: Sequence[str], findings: Iterable[CTIFinding]) -> Matched:
    """The vulnerabilities of a CNF running `software` (CPE names) in the shared findings."""
    for name in software:
        _product(name)
    seen: set[str] = set()
    vulns: list[Vulnerability] = []
    unscored: list[str] = []
    for finding in findings:
        if not finding.cpe or finding.cve in seen:
            continue
        if not any(applies(name, finding.cpe) for name in software):
            continue
        seen.add(finding.cve)
        vector = finding.cvss_vector
        if vector.startswith("CVSS:3") or (vector and not vector.startswith("CVSS:")):
            vulns.append(Vulnerability.from_vector(vector, finding.cve))
        else:
            unscored.append(finding.cve)
    return Matched(tuple(vulns), tuple(unscored))


@dataclass
class Residence:
    """Seconds a CNF has spent on each PoP, and where it runs since when."""

    pop: str
    since: float = 0.0
    spent: dict[str, float] = field(default_factory=dict)

    def exposure(self, pop: str, now: float) -> float:
        """Seconds an attacker has had on `pop`'s host context by `now`."""
        earlier = self.spent.get(pop, 0.0)
        return earlier + (now - self.since if pop == self.pop else 0.0)

    def move(self, destination: str, now: float) -> None:
        """The CNF runs on `destination` from `now`."""
        self.spent[self.pop] = self.exposure(self.pop, now)
        self.pop, self.since = destination, now

    def asp(
        self, pop: str, now: float, vulns: Sequence[Vulnerability], attack: AttackModel
    ) -> float:
        """ASP of the CNF on `pop` at `now` (its exposure there so far)."""
        return asp(vulns, self.exposure(pop, now), attack)
