"""The Trust Manager's scores and the auction's admission rule (secmas.analytics.trust)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.analytics.trust import TrustManager


@dataclass(frozen=True)
class Entry:
    measured: str
    passed: bool


def test_uninformed_agent_scores_the_prior_and_is_admitted():
    trust = TrustManager(threshold=0.4)
    assert trust.score("pop1") == 0.5
    assert trust.admits("pop1")


def test_attestation_passes_raise_the_score_as_beta_reputation():
    trust = TrustManager()
    trust.attestations([Entry("pop1", True), Entry("pop1", True), Entry("pop2", True)])
    assert trust.score("pop1") == pytest.approx(3 / 4)  # (2 + 1) / (2 + 0 + 2)
    assert trust.score("pop2") == pytest.approx(2 / 3)


def test_records_are_taken_in_once():
    trust = TrustManager()
    entries = [Entry("pop1", True)]
    trust.attestations(entries)
    trust.attestations(entries)
    entries.append(Entry("pop1", True))
    trust.attestations(entries)
    assert trust.score("pop1") == pytest.approx(3 / 4)


def test_failed_attestation_distrusts_outright():
    trust = TrustManager()
    trust.attestations([Entry("pop3", True)] * 5 + [Entry("pop3", False)])
    assert trust.score("pop3") == 0.0
    assert not trust.admits("pop3")


def test_detection_evidence_is_weighted_with_attestation():
    trust = TrustManager()
    trust.observe("attestation", "pop1", True)  # 2/3
    for _ in range(3):
        trust.observe("detection", "pop1", False)  # 1/5
    expected = (0.5 * 2 / 3 + 0.3 * 1 / 5) / 0.8
    assert trust.score("pop1") == pytest.approx(expected)


def test_below_threshold_is_excluded_from_the_auction():
    trust = TrustManager(threshold=0.45)
    for _ in range(4):
        trust.observe("detection", "pop2", False)
    assert trust.score("pop2") == pytest.approx(1 / 6)
    assert not trust.admits("pop2")
    assert trust.admits("pop1")


def test_base_view_is_applied_first():
    trust = TrustManager(base=lambda agent: agent != "pop4")
    assert not trust.admits("pop4")
    assert trust.admits("pop5")


def test_settings_and_kinds_are_checked():
    with pytest.raises(ValueError, match="threshold"):
        TrustManager(threshold=1.5)
    with pytest.raises(ValueError, match="weights"):
        TrustManager(weights={"gossip": 1.0})
    with pytest.raises(ValueError, match="unknown kind"):
        TrustManager().observe("gossip", "pop1", True)


def test_report_lists_scores_and_counts():
    trust = TrustManager()
    trust.observe("attestation", "pop1", True)
    report = trust.report(["pop1", "pop2"])
    assert report["scores"]["pop1"]["attestation"] == [1, 0]
    assert report["scores"]["pop2"]["score"] == 0.5


@given(st.lists(st.tuples(st.sampled_from(["attestation", "detection", "ssla"]), st.booleans())))
def test_score_stays_in_unit_interval(observations):
    trust = TrustManager()
    for kind, good in observations:
        trust.observe(kind, "a", good)
    assert 0.0 <= trust.score("a") <= 1.0
