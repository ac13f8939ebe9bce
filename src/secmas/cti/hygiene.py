"""Cluster hygiene scores and the placement filter they drive (deliverable 004,
Section 4.1: "Hygiene scores, derived from vulnerability data, act as a filter for
placing functions only in domains with an acceptable security posture"; "cluster hygiene
scores are calculated from the shared CTI data together with severity scores").

From the shared CTI of a domain (its scanned hosts and, per finding, the risk `R` that
folds in the CVSS severity, exploitability and age; `secmas.cti.risk`):

    x_h = 1 − Π_{v on h} (1 − R_v)          exposure of host h
    H_D = 1 − (1 / |hosts_D|) · Σ_h x_h      hygiene of domain D, in [0, 1]

`x_h` is the chance that at least one of the host's vulnerabilities is exploited if each
`R_v` is read as an independent likelihood: one critical finding dominates, many small
ones add up without ever passing 1, and a host counted twice for the same CVE (two ports)
counts it once (the highest risk). `H_D` is the share of the domain's scanned hosts not
expected to be compromised: 1 for a clean domain, near 0 when every host is exposed.
Hosts without findings count, so a report must list every scanned host (the JSON form
can; a CSV lists only hosts with findings).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

from secmas.cti.sharing import SharedReport

Pop = TypeVar("Pop", bound=Hashable)


def host_exposure(risks: Iterable[float]) -> float:
    """`x = 1 − Π (1 − R)` over one host's findings (0 for none)."""
    survive = 1.0
    for risk in risks:
        if not 0.0 <= risk <= 1.0:
            raise ValueError(f"risk must be in [0, 1], got {risk}")
        survive *= 1.0 - risk
    return 1.0 - survive


def domain_hygiene(reports: Iterable[SharedReport]) -> float:
    """`H = 1 − mean over hosts of x_h` for the reports of one domain (merged by host)."""
    hosts: set[str] = set()
    worst: dict[tuple[str, str], float] = {}
    for report in reports:
        hosts.update(report.host_ids)
        for index, finding in enumerate(report.findings):
            hosts.add(finding.host_id)
            key = (finding.host_id, finding.label or f"#{index}")
            worst[key] = max(worst.get(key, 0.0), finding.risk)
    if not hosts:
        raise ValueError("no hosts: hygiene needs the scanned hosts of the domain")
    per_host: dict[str, list[float]] = defaultdict(list)
    for (host, _), risk in worst.items():
        per_host[host].append(risk)
    exposure = math.fsum(host_exposure(per_host[h]) for h in hosts)
    return 1.0 - exposure / len(hosts)


def hygiene_scores(reports: Sequence[SharedReport]) -> dict[str, float]:
    """Hygiene per domain, domains in order of first appearance."""
    by_domain: dict[str, list[SharedReport]] = {}
    for report in reports:
        by_domain.setdefault(report.domain, []).append(report)
    return {domain: domain_hygiene(group) for domain, group in by_domain.items()}


def exclusions(
    hygiene: Mapping[str, float],
    pop_domains: Mapping[Pop, str],
    threshold: float,
    *,
    allow_unknown: bool = False,
) -> dict[Pop, str]:
    """The PoPs that may not bid for a sensitive goal, each with the reason.

    A PoP is excluded when its domain's hygiene is below `threshold`, or when its domain
    has no hygiene score (no CTI shared for it) unless `allow_unknown`. PoPs not in the
    result may bid. Pure data in and out: the auction takes the result as a plain dict.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"hygiene threshold must be in [0, 1], got {threshold}")
    excluded: dict[Pop, str] = {}
    for pop, domain in pop_domains.items():
        score = hygiene.get(domain)
        if score is None:
            if not allow_unknown:
                excluded[pop] = f"domain {domain} has no hygiene score (no CTI shared for it)"
        elif score < threshold:
            excluded[pop] = (
                f"domain {domain} hygiene {score:.3f} is below the threshold {threshold:.3f}"
            )
    return excluded
