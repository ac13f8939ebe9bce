"""Attack success probability (ASP) of a CNF from its vulnerabilities' CVSS scores
(004_… Section 2.2, risk assessment).

The deliverable's RI.AS. module scans every running VNF/CNF daily (OpenVAS: CPEs, then CVEs from
the NVD) and "the ASP is then estimated using the CVSS base score and exploitability score of
the vulnerabilities found". It gives no formula; ours, documented and tested:

* vulnerability v, with CVSS base score B_v ∈ [0, 10] and exploitability subscore E_v (CVSS v3:
  8.22·AV·AC·PR·UI ∈ [0, 3.887]; v2: 20·AV·AC·Au ∈ [0, 10]), normalised e_v = E_v / E_max;
* an attacker who finds the CNF where it is works on each vulnerability independently and
  exploits v at the rate λ_v = `rate_per_hour` · e_v (easier exploits come sooner);
* an exploit of v compromises the CNF with probability p_v = B_v / 10 (severity);
* a moving-target move (live migration to another host, new addresses and host context)
  invalidates the attacker's reconnaissance and foothold: the clock τ restarts at 0.

So, τ seconds after the last move,

    ASP(τ) = 1 − ∏_v (1 − p_v · (1 − e^(−λ_v·τ)))

which is 0 right after a move, grows with τ, and tends to 1 − ∏_v (1 − p_v). The MDP charges
each step the mean ASP over that step (`mean_asp`, Gauss–Legendre quadrature).

Scores come as floats (`Vulnerability(base, exploitability)`) or from a CVSS vector string with
the `cvss` package (`Vulnerability.from_vector`, v3.x or v2), when it is installed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

V3_EXPLOITABILITY_MAX = 8.22 * 0.85 * 0.77 * 0.85 * 0.85  # 3.887
V2_EXPLOITABILITY_MAX = 10.0
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(24)


@dataclass(frozen=True)
class Vulnerability:
    """One vulnerability found on a CNF: CVSS base score and exploitability subscore."""

    base: float
    exploitability: float
    id: str = ""
    version: str = "3"  # "3" (exploitability up to 3.887) or "2" (up to 10)

    def __post_init__(self) -> None:
        if not 0.0 <= self.base <= 10.0:
            raise ValueError(f"CVSS base score must be in [0, 10], got {self.base!r}")
        if self.version not in ("2", "3"):
            raise ValueError(f"CVSS version must be '2' or '3', got {self.version!r}")
        if not 0.0 <= self.exploitability <= self.exploitability_max + 0.05:
            raise ValueError(
                f"exploitability must be in [0, {self.exploitability_max:.3f}], "
                f"got {self.exploitability!r}"
            )

    @property
    def exploitability_max(self) -> float:
        return V3_EXPLOITABILITY_MAX if self.version == "3" else V2_EXPLOITABILITY_MAX

    @property
    def ease(self) -> float:
        """Exploitability normalised to [0, 1]."""
        return min(1.0, self.exploitability / self.exploitability_max)

    @property
    def severity(self) -> float:
        """Probability that an exploit compromises the CNF (base score / 10)."""
        return self.base / 10.0

    @classmethod
    def from_vector(cls, vector: str, id: str = "") -> Vulnerability:
        """From a CVSS v3.x ("CVSS:3.1/AV:N/…") or v2 ("AV:N/AC:L/Au:N/…") vector."""
        try:
            from cvss import CVSS2, CVSS3
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "parsing CVSS vectors needs the 'cvss' package; give scores as floats instead"
            ) from exc
        if vector.startswith("CVSS:3"):
            v3 = CVSS3(vector)
            return cls(float(v3.base_score), float(v3.esc), id, "3")
        v2 = CVSS2(vector)
        ease = 20 * v2.get_value("AV") * v2.get_value("AC") * v2.get_value("Au")
        return cls(float(v2.base_score), float(ease), id, "2")


@dataclass(frozen=True)
class AttackModel:
    """How fast an attacker exploits a fully exploitable vulnerability (per hour)."""

    rate_per_hour: float = 0.05

    def __post_init__(self) -> None:
        if not self.rate_per_hour >= 0:
            raise ValueError("rate_per_hour must be ≥ 0")

    def rate(self, vuln: Vulnerability) -> float:
        """Exploitation rate of `vuln`, per second."""
        return self.rate_per_hour * vuln.ease / 3600.0


DEFAULT_ATTACK = AttackModel()


def asp(
    vulns: Sequence[Vulnerability], since_move_s: float, model: AttackModel = DEFAULT_ATTACK
) -> float:
    """Attack success probability `since_move_s` seconds after the CNF last moved."""
    if since_move_s < 0:
        raise ValueError("time since the last move must be ≥ 0")
    survive = 1.0
    for v in vulns:
        survive *= 1.0 - v.severity * -math.expm1(-model.rate(v) * since_move_s)
    return 1.0 - survive


def asp_limit(vulns: Sequence[Vulnerability]) -> float:
    """ASP of a CNF that never moves (τ → ∞)."""
    return 1.0 - math.prod(1.0 - v.severity for v in vulns)


def mean_asp(
    vulns: Sequence[Vulnerability],
    start_s: float,
    end_s: float,
    model: AttackModel = DEFAULT_ATTACK,
) -> float:
    """Mean ASP over [start_s, end_s] seconds since the last move."""
    if end_s < start_s:
        raise ValueError("end before start")
    if end_s == start_s:
        return asp(vulns, start_s, model)
    half, mid = (end_s - start_s) / 2, (end_s + start_s) / 2
    values = [asp(vulns, mid + half * x, model) for x in _NODES]
    return float(np.dot(_WEIGHTS, values) / 2)
