"""The Trust Manager of the Trust & Security Manager (`002_…`, Section II.B).

It keeps one trust score per agent and one per PoP (the hosting infrastructure) from the
evidence a run produces, and the auction consults it: an agent whose score is below the
threshold is excluded from bidding, like an agent the relying party never admitted.

The rule (beta reputation, one per kind of evidence):

- attestation: (passed + 1) / (passed + failed + 2) over the agent's attestation records
  (an agent with no record yet scores 0.5, the uninformed prior);
- detection: (clean + 1) / (clean + confirmed + 2) over the closed loop's verdicts on the
  CNF instances the agent's PoP hosts: a confirmed incident on an instance (one the
  decision engine isolated) counts against the PoP, every loop period without one for it;
- SSLA compliance: the same form over assessed SSLA periods, once policies feed it;
  without SSLA evidence its weight is shared by the others.

An agent's score is the weighted mean of its kinds (weights 0.5 attestation, 0.3
detection, 0.2 SSLA by default) and a PoP's score is its agent's. An agent that failed
attestation is distrusted outright (score 0), whatever else it did: a failed measurement
means the code that would bid is not the code that was vetted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_THRESHOLD = 0.4
WEIGHTS = {"attestation": 0.5, "detection": 0.3, "ssla": 0.2}


@dataclass
class Evidence:
    """Positive and negative observations of one kind for one subject."""

    good: int = 0
    bad: int = 0

    @property
    def score(self) -> float:
        """Beta reputation: the mean of Beta(good + 1, bad + 1)."""
        return (self.good + 1) / (self.good + self.bad + 2)

    @property
    def observed(self) -> bool:
        return self.good + self.bad > 0


@dataclass
class TrustManager:
    """Trust scores per agent (and its PoP) and the admission rule the auction uses."""

    threshold: float = DEFAULT_THRESHOLD
    weights: dict[str, float] = field(default_factory=lambda: dict(WEIGHTS))
    base: Callable[[str], bool] | None = None
    """The relying party's view (attested and not revoked); None admits every agent."""
    _evidence: dict[tuple[str, str], Evidence] = field(default_factory=dict)
    _failed: set[str] = field(default_factory=set)
    _seen: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"trust threshold must be in [0, 1], got {self.threshold}")
        unknown = set(self.weights) - set(WEIGHTS)
        if unknown or any(w < 0 for w in self.weights.values()):
            raise ValueError(f"weights must be non-negative, of {sorted(WEIGHTS)}")

    # -- evidence ----------------------------------------------------------------------------
    def observe(self, kind: str, subject: str, good: bool) -> None:
        """One observation of `kind` (attestation, detection, ssla) about `subject`."""
        if kind not in WEIGHTS:
            raise ValueError(f"unknown kind of trust evidence {kind!r}")
        evidence = self._evidence.setdefault((kind, subject), Evidence())
        if good:
            evidence.good += 1
        else:
            evidence.bad += 1
            if kind == "attestation":
                self._failed.add(subject)

    def attestations(self, entries: Iterable[Any]) -> None:
        """Take in attestation records not seen yet (objects with `measured`, `passed`)."""
        entries = list(entries)
        for entry in entries[self._seen :]:
            self.observe("attestation", entry.measured, entry.passed)
        self._seen = len(entries)

    # -- scores ------------------------------------------------------------------------------
    def score(self, subject: str) -> float:
        """The subject's trust in [0, 1] (see the module docstring for the rule)."""
        if subject in self._failed:
            return 0.0
        kinds = [k for k in WEIGHTS if self._evidence.get((k, subject), Evidence()).observed]
        kinds = kinds or ["attestation"]
        total = sum(self.weights[k] for k in kinds)
        if total <= 0:
            return 0.5
        return (
            sum(self.weights[k] * self._evidence.get((k, subject), Evidence()).score for k in kinds)
            / total
        )

    def admits(self, agent: str) -> bool:
        """The auction's rule: admitted by the relying party and trusted enough."""
        if self.base is not None and not self.base(agent):
            return False
        return self.score(agent) >= self.threshold

    def report(self, subjects: Iterable[str]) -> dict[str, Any]:
        """Scores and evidence counts for report.json."""
        return {
            "threshold": self.threshold,
            "weights": dict(self.weights),
            "rule": "beta reputation per kind of evidence, weighted mean; failed attestation = 0",
            "scores": {
                s: {
                    "score": round(self.score(s), 4),
                    "admitted": self.admits(s),
                    **{
                        k: [e.good, e.bad]
                        for k in WEIGHTS
                        if (e := self._evidence.get((k, s))) is not None
                    },
                }
                for s in subjects
            },
        }
