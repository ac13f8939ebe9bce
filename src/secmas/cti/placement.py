"""CTI in a run (004_… Section 4.1, Figure 7): before the agents start, each domain's
scanner reports are shared as STIX 2.1; each domain publishes its bundle to its collection
on a TAXII 2.1 server (medallion, started for the run on loopback with credentials of its
own, or an existing server), signed with the domain's own key, and the orchestrator's CTI
subscriber polls the collections, keeps what each domain's pinned key verifies and that
speaks of that domain only, and computes the hygiene scores from it with risks it
recomputes itself (`secmas.cti.taxii`). They then steer placement: a PoP whose domain
scores below the threshold refuses the calls for proposals of sensitive goals, and the
REFUSE carries the reason, so the auction record says why the PoP was left out.

`HygieneFilter.prepare` does the sharing and the exchange (file and network I/O; bad input
→ CTIInputError, a key file that lacks a domain → KeyFileError, a TAXII server that fails
→ TaxiiError); the filter is then one of the
run's step loops (`secmas.pipeline.runloop.StepLoop`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from secmas import strictjson
from secmas.agents.bidding import GoalRequest
from secmas.cti.hygiene import exclusions
from secmas.cti.share import ShareResult, share
from secmas.cti.signing import KeyFile
from secmas.cti.taxii import CONFIG_FILE, Exchange, TaxiiAccess, exchange, exchange_on_medallion
from secmas.scenario.adaptive import CTISharing
from secmas.scenario.model import Scenario

if TYPE_CHECKING:
    from secmas.agents.ddos.world import World
    from secmas.agents.handle import AgentHandle

BUNDLE_FILE = "cti-bundle.json"
DECISIONS_FILE = "cti-decisions.csv"
TAXII_FILE = "cti-taxii.json"
MEDALLION_FILE = "cti-medallion.json"


@dataclass
class HygieneFilter:
    """Keeps PoPs of low-hygiene domains out of sensitive goals' auctions."""

    settings: CTISharing
    shared: ShareResult
    domains: dict[str, str]
    """PoP → its domain (PoPs without one are absent)."""
    excluded: dict[str, str]
    """PoP → why it may not bid for a sensitive goal."""
    exchanged: Exchange
    """The TAXII round the hygiene comes from."""
    medallion_config: str = ""
    """The configuration of the run's medallion server (empty with an existing server)."""
    refusals: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(PoP, goal) → calls for proposals it refused."""

    @classmethod
    def prepare(
        cls,
        scenario: Scenario,
        base: Path,
        settings: CTISharing,
        taxii: TaxiiAccess | None = None,
        keys: KeyFile | None = None,
    ) -> HygieneFilter:
        """Share the reports named in `settings` (paths relative to `base`), exchange the
        domains' bundles over TAXII (a medallion server of the run's, or `taxii`), each
        signed with its domain's key (from `keys`, or drawn for the run), and work out the
        exclusions from the hygiene the subscriber computed. Raises CTIInputError naming
        every bad file, KeyFileError naming the key file and domain, TaxiiError naming the
        server."""
        result = share(
            [base / path for path in settings.reports],
            base / settings.sensitivity,
            base / settings.necessity,
            publisher=f"secmas CTI agent ({scenario.id})",
        )
        bundles = result.domain_bundles
        signers, trusted = (None, None) if keys is None else keys.for_exchange(bundles)
        config = ""
        if taxii is None:
            folder = Path(tempfile.mkdtemp(prefix="secmas-taxii-"))
            try:
                exchanged = exchange_on_medallion(bundles, folder, signers, trusted)
                config = (folder / CONFIG_FILE).read_text(encoding="utf-8")
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        else:
            publishers = dict.fromkeys(bundles, taxii)
            exchanged = exchange(bundles, publishers, taxii, signers, trusted)
        domains = {pop.id: pop.domain for pop in scenario.pops if pop.domain is not None}
        excluded = exclusions(
            exchanged.hygiene, domains, settings.threshold, allow_unknown=settings.allow_unknown
        )
        if not settings.allow_unknown:
            for pop in scenario.pops:
                if pop.domain is None:
                    excluded[pop.id] = "the PoP belongs to no domain (no CTI covers it)"
        return cls(settings, result, domains, excluded, exchanged, config)

    # -- the run ----------------------------------------------------------------------------
    def decline(self, pop: str, request: GoalRequest) -> str | None:
        """Why `pop` refuses `request` (a sensitive goal and a low-hygiene domain), or None."""
        if request.goal not in self.settings.sensitive_goals:
            return None
        reason = self.excluded.get(pop)
        if reason is None:
            return None
        self.refusals[(pop, request.goal)] += 1
        return f"CTI: {reason} for the sensitive goal {request.goal}"

    def attach(
        self, world: World, _attestations: Callable[[], Sequence[Any]], _layer: Any = None
    ) -> None:
        world.declines.append(self.decline)

    async def start(self, agents: Sequence[AgentHandle]) -> None:
        return None

    async def after_step(self, now: float) -> None:
        return None

    # -- what is reported -------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        decisions = Counter((d.field, d.decision) for d in self.shared.decisions)
        return {
            "cti": {
                "reports": list(self.settings.reports),
                "hygiene": {d: round(s, 4) for d, s in sorted(self.exchanged.hygiene.items())},
                "threshold": self.settings.threshold,
                "sensitive_goals": list(self.settings.sensitive_goals),
                "domains": self.domains,
                "excluded": self.excluded,
                "refusals": [
                    {"pop": pop, "goal": goal, "count": n}
                    for (pop, goal), n in sorted(self.refusals.items())
                ],
                "findings": sum(len(r.findings) for r in self.shared.shared),
                "decisions": [
                    {"field": f, "decision": d, "count": n}
                    for (f, d), n in sorted(decisions.items())
                ],
                "bundle": BUNDLE_FILE,
                "taxii": self.exchanged.summary(),
            }
        }

    def write(self, folder: Path) -> list[Path]:
        """The STIX bundle of all domains, the publisher's decision table (with the
        original values: it stays in the publisher's domain), the TAXII exchange and the
        configuration of the run's medallion server (its credentials died with it)."""
        folder.mkdir(parents=True, exist_ok=True)
        bundle = folder / BUNDLE_FILE
        bundle.write_text(self.shared.bundle_json, encoding="utf-8")
        record = folder / TAXII_FILE
        record.write_text(strictjson.dumps(self.exchanged.summary(), indent=1), encoding="utf-8")
        paths = [bundle, self.shared.write_decisions(folder / DECISIONS_FILE), record]
        if self.medallion_config:
            config = folder / MEDALLION_FILE
            config.touch(mode=0o600)
            config.write_text(self.medallion_config, encoding="utf-8")
            paths.append(config)
        return paths
