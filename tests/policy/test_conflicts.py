"""The conflict check: allow vs block on the same traffic, contradictory residency."""

from __future__ import annotations

from ipaddress import ip_network

from hypothesis import given
from hypothesis import strategies as st

from secmas.policy.conflicts import check, traffic_rule, uncovered
from secmas.policy.intents import parse_intents
from secmas.policy.kpi import Prefixes
from secmas.policy.ssla import SSLA, from_xml, to_xml
from secmas.policy.translate import ssla_for


def sslas(text: str) -> list[SSLA]:
    return [ssla_for(intent) for intent in parse_intents(text).intents]


ISOLATED = "  - {id: iso, slice: web, kind: isolation, whitelist: [10.1.0.0/16]}\n"


def test_allow_outside_the_whitelist_conflicts_and_deny_overrides_on_a_tie() -> None:
    policies = sslas(
        "intents:\n"
        + ISOLATED
        + "  - {id: partner, slice: web, kind: access, sources: [192.0.2.0/24, 10.1.7.0/24]}\n"
    )
    resolution = check(policies)
    [conflict] = resolution.conflicts
    assert conflict.kind == "allow-vs-block"
    assert conflict.disputed == ("192.0.2.0/24",)  # 10.1.7.0/24 is whitelisted anyway
    assert conflict.winner == ("ssla-iso", "SliceIsolation")
    assert conflict.rule == "deny overrides"
    assert "ssla-iso/SliceIsolation is enforced (deny overrides)" in conflict.explain()
    # The losing allow term no longer promises the disputed prefix.
    key = ("ssla-partner", "AllowedSources")
    term = policies[1].terms[0]
    [allowed] = resolution.named_sets(key, term)
    assert allowed.values == ("10.1.7.0/24",)
    # The winner's whitelist is untouched.
    iso = policies[0].terms[0]
    assert resolution.named_sets(("ssla-iso", "SliceIsolation"), iso) == iso.indicator.sets


def test_a_higher_priority_allow_widens_the_losing_whitelist() -> None:
    policies = sslas(
        "intents:\n"
        + ISOLATED
        + "  - {id: partner, slice: web, kind: access, sources: [192.0.2.0/24], priority: 10}\n"
    )
    resolution = check(policies)
    [conflict] = resolution.conflicts
    assert conflict.winner == ("ssla-partner", "AllowedSources")
    assert conflict.rule == "higher priority"
    [whitelist] = resolution.named_sets(("ssla-iso", "SliceIsolation"), policies[0].terms[0])
    members = whitelist.members()
    assert "192.0.2.44" in members and "10.1.3.3" in members and "198.51.100.1" not in members


def test_no_conflict_inside_the_whitelist_or_on_another_slice() -> None:
    policies = sslas(
        "intents:\n"
        + ISOLATED
        + "  - {id: a, slice: web, kind: access, sources: [10.1.4.0/24]}\n"
        + "  - {id: b, slice: video, kind: access, sources: [192.0.2.0/24]}\n"
        + "  - {id: c, slice: web, kind: isolation, whitelist: [10.0.0.0/8]}\n"
    )
    assert check(policies).conflicts == []


def test_contradictory_residency_suspends_the_lower_priority_term() -> None:
    policies = sslas(
        "intents:\n"
        "  - {id: eu, slice: web, kind: residency, region: eu-west}\n"
        "  - {id: us, slice: web, kind: residency, region: us-east, priority: 3}\n"
        "  - {id: same, slice: web, kind: residency, region: us-east}\n"
        "  - {id: other, slice: video, kind: residency, region: eu-west}\n"
    )
    resolution = check(policies)
    [conflict] = resolution.conflicts  # eu vs us; us vs same agree; other is another slice
    assert conflict.kind == "residency" and conflict.disputed == ("eu-west", "us-east")
    assert conflict.winner == ("ssla-us", "DataResidency")
    assert resolution.suspended == {("ssla-eu", "DataResidency")}


def test_hand_written_sslas_are_analysed_from_their_formulas() -> None:
    policies = sslas(
        "intents:\n" + ISOLATED + "  - {id: p, slice: web, kind: access, sources: [0.0.0.0/0]}\n"
    )
    reread = [from_xml(to_xml(ssla)) for ssla in policies]
    assert [traffic_rule(s, s.terms[0]).effect for s in reread] == ["block", "allow"]  # type: ignore[union-attr]
    [conflict] = check(reread).conflicts
    assert "10.0.0.0/16" in conflict.disputed and "10.1.0.0/16" not in conflict.disputed


def test_terms_without_a_source_rule_are_ignored() -> None:
    policies = sslas(
        "intents:\n  - {id: e, slice: web, kind: encryption}\n"
        "  - {id: v, slice: web, kind: availability, percent: 99}\n"
    )
    assert [traffic_rule(s, s.terms[0]) for s in policies] == [None, None]
    assert check(policies).conflicts == []


NETWORKS = st.builds(
    lambda address, length: ip_network(f"{address}/{length}", strict=False),
    st.ip_addresses(v=4),
    st.integers(min_value=8, max_value=32),
)


@given(
    st.lists(NETWORKS, min_size=1, max_size=4), st.lists(NETWORKS, max_size=4), st.ip_addresses(v=4)
)
def test_uncovered_is_exact_set_difference(networks: list, cover: list, address: object) -> None:
    left = uncovered(networks, cover)
    inside = any(address in n for n in networks) and not any(address in c for c in cover)
    assert (str(address) in Prefixes(left)) == inside
