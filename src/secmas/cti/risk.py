"""Risk score of one vulnerability from its CVSS vector and its age (deliverable 004,
Sections 2.2 and 4.1).

Section 4.1: the risk score "combines parameters such as the severity and age of a
vulnerability to estimate its exploitability" and acts "as a weighted factor in the
decision process, giving more importance to high-risk vulnerabilities"; Section 2.2
estimates the attack success probability "using the CVSS base score and exploitability
score". The score used here is

    R = (B / 10) · Ê · A(d)            with  A(d) = 1 − (1 − A₀) · 2^(−d / h)

- `B` the CVSS base score (0–10), so `B/10` is the severity in [0, 1];
- `Ê` the exploitability sub-score normalised to [0, 1]: for CVSS 3.x the
  specification's `8.22 · AV · AC · PR · UI` divided by its maximum
  `8.22 · 0.85 · 0.77 · 0.85 · 0.85 ≈ 3.887` (so `Ê = AV·AC·PR·UI / (0.85·0.77·0.85·0.85)`;
  AV:N/AC:L/PR:N/UI:N gives 1). CVSS 4.0 defines no exploitability sub-score, so the
  same product is taken over its exploitability metrics with the 3.1 weights: AV and PR
  as in 3.1 (PR with the scope-unchanged weights: 4.0 has no scope), UI:P and UI:A as
  3.1's UI:R (0.62), and the complexity weight 0.77 when AC:L and AT:N, else 0.44 (the
  split of 4.0's own equivalence set EQ2);
- `A(d)` the age factor of a vulnerability published `d` days before it was observed:
  `A₀` (0.5) on the day of publication, rising towards 1 with half-life `h` (365 days).
  Exploits for a vulnerability appear and spread after its disclosure, and a
  vulnerability still present long after publication is more likely to be exploitable
  in practice, so age raises the risk; it never more than doubles it.

`R` is in [0, 1] and reads as a likelihood-weighted severity. CVSS 2.0 vectors are refused
(scanners that still emit them also give a 3.x vector for NVD entries since 2016).
"""

from __future__ import annotations

from dataclasses import dataclass

from cvss import CVSS3, CVSS4, CVSSError

CVSS3_WEIGHTS = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "PR": {"N": 0.85, "L": 0.62, "H": 0.27},
    "UI": {"N": 0.85, "R": 0.62},
}
"""CVSS 3.1 exploitability weights (PR for scope unchanged), Section 7.4 of the spec."""

EXPLOITABILITY_MAX = 0.85 * 0.77 * 0.85 * 0.85
"""`AV·AC·PR·UI` of the most exploitable vector (the 8.22 factor cancels out)."""

EXPLOITABILITY_MIN = (
    min(CVSS3_WEIGHTS["AV"].values())
    * min(CVSS3_WEIGHTS["AC"].values())
    * min(CVSS3_WEIGHTS["PR"].values())
    * min(CVSS3_WEIGHTS["UI"].values())
    / EXPLOITABILITY_MAX
)
"""`Ê` of the least exploitable vector (AV:P/AC:H/PR:H/UI:R, ≈ 0.035), in 3.x and 4.0 alike."""

SEVERITIES = ("None", "Low", "Medium", "High", "Critical")


@dataclass(frozen=True)
class CvssScore:
    """A parsed CVSS vector: version, base score, normalised exploitability, severity."""

    vector: str
    version: str
    base: float
    exploitability: float
    severity: str


@dataclass(frozen=True)
class RiskParams:
    """Parameters of the age factor `A(d) = 1 − (1 − fresh) · 2^(−d / half_life_days)`."""

    fresh: float = 0.5
    half_life_days: float = 365.0

    def __post_init__(self) -> None:
        if not 0.0 < self.fresh <= 1.0:
            raise ValueError(f"fresh must be in (0, 1], got {self.fresh}")
        if self.half_life_days <= 0:
            raise ValueError(f"half_life_days must be positive, got {self.half_life_days}")


def parse_cvss(vector: str) -> CvssScore:
    """Parse a CVSS 3.0, 3.1 or 4.0 vector; ValueError with the reason otherwise."""
    text = vector.strip()
    version = text[5:8] if text.startswith("CVSS:") else ""
    try:
        if version in ("3.0", "3.1"):
            v3 = CVSS3(text)
            exploitability = float(v3.esc) / (8.22 * EXPLOITABILITY_MAX)
            return CvssScore(
                v3.clean_vector(),
                version,
                float(v3.base_score),
                _unit(exploitability),
                v3.severities()[0],
            )
        if version == "4.0":
            v4 = CVSS4(text)
            return CvssScore(
                v4.clean_vector(),
                version,
                float(v4.base_score),
                cvss4_exploitability(v4.metrics),
                v4.severity,
            )
    except CVSSError as exc:
        raise ValueError(f"bad CVSS {version} vector {text!r}: {exc}") from None
    if "Au:" in text:
        raise ValueError(f"CVSS 2.0 vector {text!r} is not supported: give the CVSS 3.x or 4.0 one")
    raise ValueError(
        f"not a CVSS vector {text!r}: expected one starting with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/"
    )


def cvss4_exploitability(metrics: dict[str, str]) -> float:
    """Normalised exploitability of CVSS 4.0 base metrics (see the module docstring)."""
    av = CVSS3_WEIGHTS["AV"][metrics["AV"]]
    easy = metrics["AC"] == "L" and metrics["AT"] == "N"
    complexity = CVSS3_WEIGHTS["AC"]["L" if easy else "H"]
    pr = CVSS3_WEIGHTS["PR"][metrics["PR"]]
    ui = CVSS3_WEIGHTS["UI"]["N" if metrics["UI"] == "N" else "R"]
    return _unit(av * complexity * pr * ui / EXPLOITABILITY_MAX)


def age_factor(age_days: float, params: RiskParams | None = None) -> float:
    """`A(d) = 1 − (1 − A₀) · 2^(−d / h)`: A₀ at publication, → 1 as the vulnerability ages."""
    p = params or RiskParams()
    if age_days < 0:
        raise ValueError(f"age must not be negative, got {age_days} days")
    return 1.0 - (1.0 - p.fresh) * 2.0 ** (-age_days / p.half_life_days)


def risk_score(
    base: float, exploitability: float, age_days: float, params: RiskParams | None = None
) -> float:
    """`R = (B/10) · Ê · A(d)` in [0, 1] (Section 4.1: severity and age → exploitability)."""
    if not 0.0 <= base <= 10.0:
        raise ValueError(f"base score must be in [0, 10], got {base}")
    if not 0.0 <= exploitability <= 1.0:
        raise ValueError(f"normalised exploitability must be in [0, 1], got {exploitability}")
    return base / 10.0 * exploitability * age_factor(age_days, params)


def cvss_risk(score: CvssScore, age_days: float, params: RiskParams | None = None) -> float:
    """Risk of a parsed CVSS vector for a vulnerability `age_days` old."""
    return risk_score(score.base, score.exploitability, age_days, params)


def risk_bounds(
    base: float, exploitability: float | None = None, params: RiskParams | None = None
) -> tuple[float, float]:
    """The lowest and highest `R` a finding can have when its age is unknown and, with
    `exploitability` None, its vector too: only the base score `B` is known. `A(d)` lies in
    [A₀, 1) and `Ê` in [`EXPLOITABILITY_MIN`, 1], so `R` lies in
    [(B/10)·Ê_min·A₀, B/10]. A subscriber bounds a publisher's claimed risk by them."""
    low, high = (EXPLOITABILITY_MIN, 1.0) if exploitability is None else (exploitability,) * 2
    return risk_score(base, low, 0.0, params), base / 10.0 * high


def _unit(x: float) -> float:
    """Clamp rounding noise (the cvss package rounds sub-scores to 10 digits) into [0, 1]."""
    return min(1.0, max(0.0, round(x, 9)))
