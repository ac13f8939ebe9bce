"""Remedies as plug-ins (secmas.policy.remediation): the four built-ins are found through
the `secmas.remedies` entry points, and a remedy of a distribution installed for the test
(a `.dist-info` folder on the import path, as pip installs one) is accepted in an SSLA
document and run by the SSLA manager on a real breach, as a built-in is."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.policy.test_manager import ROGUE, ROGUE_AT, SCENARIO, RogueSender, sslas
from tests.test_plugins import install, site

from secmas.pipeline.operate import operate
from secmas.plugins import PluginError, plugin, rescan
from secmas.policy.audit import AuditLog, verify
from secmas.policy.manager import PolicyError, SSLAManager
from secmas.policy.remediation import action_words, remedy_class
from secmas.policy.ssla import SSLA, Action, SSLAError, from_xml, to_xml

__all__ = ["site"]  # the fixture, used by name

TALLY = '''
from secmas.policy.remediation import Breach, Enforcer, Remedy


class Tally(Remedy):
    """Counts each offender's offending records in the period and audits the count."""

    name = "tally"

    async def enforce(self, breach: Breach, run: Enforcer) -> None:
        assessment = breach.assessment
        for offender in sorted(breach.offenders):
            count = sum(
                1
                for record in assessment.offending
                if offender in (record.get("source_ip"), record.get("sender"))
            )
            outcome = f"{count} offending records"
            run.enforced(assessment, "TALLY", offender, outcome)
            run.audit.append(assessment.end, "Tally", "tally", f"{offender}: {outcome}", {})
'''
ENTRY = "[secmas.remedies]\ntally = tally_mod:Tally\n"


@pytest.fixture(autouse=True)
def fresh_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test imports the remedy it installs from its own folder."""
    monkeypatch.delitem(sys.modules, "tally_mod", raising=False)
    yield
    sys.modules.pop("tally_mod", None)


def tallied() -> SSLA:
    """The encryption intent's SSLA, its breach answered by TALLY and LOG."""
    [ssla] = sslas("  - {id: enc, slice: protected-web, kind: encryption}\n")
    [term] = ssla.terms
    remediation = (Action("TALLY", "", "count the offending messages"), term.remediation[-1])
    return dataclasses.replace(ssla, terms=(dataclasses.replace(term, remediation=remediation),))


def test_the_built_ins_are_plug_ins_of_secmas() -> None:
    assert action_words() == ("LOG", "NOTIFY", "REJECT_PACKET", "REVOKE")
    assert plugin("secmas.remedies", "reject_packet").distribution == "secmas"
    assert remedy_class("NOTIFY").once_per_episode and not remedy_class("REVOKE").once_per_episode


def test_an_installed_remedy_is_named_in_a_document_and_run_on_a_breach(site: Path) -> None:
    install(site, "tally", ENTRY, TALLY)
    assert "TALLY" in action_words()
    ssla = tallied()
    assert from_xml(to_xml(ssla)) == ssla  # a document may name it
    manager = SSLAManager([ssla], AuditLog())
    scenario = SCENARIO.model_copy(update={"attack": None})
    result = asyncio.run(operate(scenario, until=40.0, loops=[RogueSender(), manager]))
    policy = (result.analytics or {})["policy"]
    [breach] = policy["breaches"]
    assert breach["end"] == ROGUE_AT + 1
    [tally] = policy["enforcements"]
    assert (tally["action"], tally["target"]) == ("TALLY", ROGUE)
    assert tally["outcome"] == "1 offending records" and tally["time"] == ROGUE_AT + 1
    assert [e.explanation for e in manager.audit.entries if e.decision == "tally"] == [
        f"{ROGUE}: 1 offending records"
    ]
    assert verify(manager.audit.entries).ok
    assert result.trust is not None and result.trust["agents"][ROGUE]["trusted"]  # no REVOKE


def test_a_remedy_that_is_not_installed_is_refused_where_it_is_named(site: Path) -> None:
    install(site, "tally", ENTRY, TALLY)
    ssla = tallied()
    document = to_xml(ssla)
    sys.path.remove(str(site))
    rescan()
    with pytest.raises(
        SSLAError,
        match=r"unknown action kind 'TALLY'; expected one of LOG, NOTIFY, REJECT_PACKET, "
        r"REVOKE \(the installed remedies\)",
    ):
        from_xml(document)
    with pytest.raises(PolicyError, match=r"ssla-enc/InterAgentEncryption: no remedy 'TALLY'"):
        SSLAManager([ssla], AuditLog())


def test_a_plug_in_that_is_no_remedy_or_misnamed_is_refused(site: Path) -> None:
    install(site, "odd", "[secmas.remedies]\nodd = odd_mod:Odd\n", "class Odd: ...\n")
    with pytest.raises(PluginError, match=r"remedy 'odd' \(odd 1.0, odd_mod:Odd\): is no Remedy"):
        remedy_class("ODD")
    install(site, "other", "[secmas.remedies]\nother = other_mod:Tally\n", TALLY)
    with pytest.raises(PluginError, match="its class calls itself 'tally'"):
        remedy_class("OTHER")
