"""From intents to Security SLAs: each intent kind compiles to one guarantee term.

The KPI formula of a term is written in the language of `secmas.policy.kpi` and states the
objective: evaluated on the indicator's source it gives the KPI value, and whether the
objective holds. The breach condition compares that value (named by the KPI). Named sets in
a formula (`whitelist`) are bound from the intent when the SSLA is assessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network

from secmas.policy.intents import (
    AccessIntent,
    AvailabilityIntent,
    EncryptionIntent,
    Intent,
    IsolationIntent,
    PatchingIntent,
    ResidencyIntent,
)
from secmas.policy.kpi import parse
from secmas.policy.ssla import (
    SSLA,
    Action,
    GuaranteeTerm,
    Indicator,
    NamedSet,
    SetKind,
    Source,
    SourceKind,
)

ORCHESTRATOR = "SecurityOrchestrator"
"""Who NOTIFY actions tell when no agent goal fits (Figure 3's target)."""
AUDIT_LOG = "AuditLog"
"""Where LOG actions write."""
MONITOR = "DistributedSecurityMonitoring"
"""The collector of packet and message streams (Figure 3's measurement source)."""
SCALE_OUT = "cnfScaledOut"
"""The agents' goal an availability breach notifies: one more replica of the slice's CNF."""

SUPPORTED: dict[str, str] = {
    "isolation": "only whitelisted sources (addresses or CIDR prefixes) reach the slice: "
    "COUNT(packets WHERE source_ip NOT IN whitelist) == 0 on the slice's ingress stream every "
    "second; breach on any such packet → REJECT_PACKET, NOTIFY, LOG",
    "access": "packets from the given sources (addresses or CIDR prefixes) are let into the "
    "slice: COUNT(rejected_packets WHERE source_ip IN allowed) == 0 on the packets rules drop "
    "on their way to the slice every second; breach on any → NOTIFY, LOG",
    "residency": "the slice's data stays in one region: COUNT(data_placements WHERE region != "
    "'R') == 0 every minute; breach on any placement elsewhere → NOTIFY, LOG",
    "patching": "critical patches are applied within H hours: COUNT(patches WHERE severity == "
    "'critical' AND delay_hours > H) == 0 every hour; breach on any late patch → NOTIFY, LOG",
    "availability": "the slice's service is available at least P % of the time: availability "
    ">= P on the availability metric every 10 s; breach below P → NOTIFY (the agents get the "
    "goal cnfScaledOut for the slice's CNF), LOG",
    "encryption": "every inter-agent message is encrypted: COUNT(messages WHERE encrypted == "
    "FALSE) == 0 on the agents' bus every second; breach on any plaintext message → REVOKE "
    "the sender, LOG",
}
"""The supported intent kinds and what each compiles to (one line each)."""


def ssla_for(intent: Intent) -> SSLA:
    """The Security SLA enforcing `intent`: one guarantee term, its formulas valid."""
    match intent:
        case IsolationIntent():
            term = _isolation(intent)
        case AccessIntent():
            term = _access(intent)
        case ResidencyIntent():
            term = _residency(intent)
        case PatchingIntent():
            term = _patching(intent)
        case AvailabilityIntent():
            term = _availability(intent)
        case EncryptionIntent():
            term = _encryption(intent)
        case _:
            raise TypeError(f"not an intent: {intent!r}")
    parse(term.indicator.formula)
    parse(term.breach)
    return SSLA(f"ssla-{intent.id}", intent.id, intent.slice, (term,), intent.priority)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _log(what: str) -> Action:
    return Action("LOG", AUDIT_LOG, what)


def _isolation(intent: IsolationIntent) -> GuaranteeTerm:
    prefixes = ", ".join(str(network) for network in intent.whitelist)
    return GuaranteeTerm(
        name="SliceIsolation",
        objective=f"every packet entering slice {intent.slice} comes from a whitelisted "
        f"source ({prefixes})",
        indicator=Indicator(
            kpi="InvalidSourcePackets",
            formula="COUNT(packets WHERE source_ip NOT IN whitelist) == 0",
            unit="packets",
            source=Source(SourceKind.STREAM, f"{intent.slice}.ingress", MONITOR),
            period=1.0,
            sets=(_prefixes("whitelist", intent.whitelist),),
        ),
        breach="InvalidSourcePackets > 0",
        remediation=(
            Action(
                "REJECT_PACKET",
                intent.slice,
                f"drop packets to slice {intent.slice} from the offending sources "
                f"(outside {prefixes})",
            ),
            Action("NOTIFY", ORCHESTRATOR, f"isolation of slice {intent.slice} breached"),
            _log(f"packets from non-whitelisted sources reached slice {intent.slice}"),
        ),
    )


def _prefixes(name: str, networks: Iterable[IPv4Network | IPv6Network]) -> NamedSet:
    return NamedSet(name, SetKind.PREFIXES, tuple(str(network) for network in networks))


def _access(intent: AccessIntent) -> GuaranteeTerm:
    prefixes = ", ".join(str(network) for network in intent.sources)
    return GuaranteeTerm(
        name="AllowedSources",
        objective=f"packets from {prefixes} are let into slice {intent.slice}",
        indicator=Indicator(
            kpi="RejectedAllowedPackets",
            formula="COUNT(rejected_packets WHERE source_ip IN allowed) == 0",
            unit="packets",
            source=Source(SourceKind.STREAM, f"{intent.slice}.rejected", MONITOR),
            period=1.0,
            sets=(_prefixes("allowed", intent.sources),),
        ),
        breach="RejectedAllowedPackets > 0",
        remediation=(
            Action(
                "NOTIFY",
                ORCHESTRATOR,
                f"lift the rules dropping packets from {prefixes} towards slice {intent.slice}",
            ),
            _log(f"packets from allowed sources {prefixes} were dropped"),
        ),
    )


def _residency(intent: ResidencyIntent) -> GuaranteeTerm:
    return GuaranteeTerm(
        name="DataResidency",
        objective=f"the data of slice {intent.slice} is stored and processed in region "
        f"{intent.region} only",
        indicator=Indicator(
            kpi="OutOfRegionPlacements",
            formula=f"COUNT(data_placements WHERE region != '{intent.region}') == 0",
            unit="placements",
            source=Source(SourceKind.STREAM, f"{intent.slice}.placements", "GeolocationMonitor"),
            period=60.0,
        ),
        breach="OutOfRegionPlacements > 0",
        remediation=(
            Action(
                "NOTIFY",
                ORCHESTRATOR,
                f"move the data of slice {intent.slice} back to region {intent.region}",
            ),
            _log(f"data of slice {intent.slice} placed outside region {intent.region}"),
        ),
    )


def _patching(intent: PatchingIntent) -> GuaranteeTerm:
    hours = _number(intent.within_hours)
    return GuaranteeTerm(
        name="CriticalPatchDelay",
        objective=f"critical patches are applied to the functions of slice {intent.slice} "
        f"within {hours} h of their release",
        indicator=Indicator(
            kpi="LateCriticalPatches",
            formula=f"COUNT(patches WHERE severity == 'critical' AND delay_hours > {hours}) == 0",
            unit="patches",
            source=Source(SourceKind.STREAM, f"{intent.slice}.patches", "PatchManager"),
            period=3600.0,
        ),
        breach="LateCriticalPatches > 0",
        remediation=(
            Action(
                "NOTIFY",
                ORCHESTRATOR,
                f"apply the pending critical patches of slice {intent.slice} or replace the "
                "unpatched instances",
            ),
            _log(f"critical patches of slice {intent.slice} late by more than {hours} h"),
        ),
    )


def _availability(intent: AvailabilityIntent) -> GuaranteeTerm:
    percent = _number(intent.percent)
    return GuaranteeTerm(
        name="ServiceAvailability",
        objective=f"the service of slice {intent.slice} is available at least {percent} % "
        "of the time",
        indicator=Indicator(
            kpi="Availability",
            formula=f"availability >= {percent}",
            unit="percent",
            source=Source(SourceKind.METRIC, f"{intent.slice}.availability", "MonitoringAgent"),
            period=10.0,
        ),
        breach=f"Availability < {percent}",
        remediation=(
            Action(
                "NOTIFY",
                SCALE_OUT,
                f"replicate the CNF instances of slice {intent.slice}",
            ),
            _log(f"availability of slice {intent.slice} below {percent} %"),
        ),
    )


def _encryption(intent: EncryptionIntent) -> GuaranteeTerm:
    return GuaranteeTerm(
        name="InterAgentEncryption",
        objective=f"every message between the agents serving slice {intent.slice} is encrypted",
        indicator=Indicator(
            kpi="PlaintextMessages",
            formula="COUNT(messages WHERE encrypted == FALSE) == 0",
            unit="messages",
            source=Source(SourceKind.STREAM, f"{intent.slice}.agent-bus", MONITOR),
            period=1.0,
        ),
        breach="PlaintextMessages > 0",
        remediation=(
            Action(
                "REVOKE",
                "sender",
                "revoke the agent that sent a message in clear: it loses its key and trust",
            ),
            _log(f"plaintext inter-agent message on slice {intent.slice}"),
        ),
    )
