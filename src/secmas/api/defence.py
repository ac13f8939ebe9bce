"""The adaptive defence of a run: a scenario's `cti` and `mtd` sections as step loops.

The CTI is shared before the run (over a medallion TAXII server of the run's, on
loopback, or an existing TAXII 2.1 server) and its hygiene scores filter placement; the
MTD loop plans its moves before the run from the findings the subscriber received.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from secmas.api.errors import RunFailed, RunInputError
from secmas.scenario.model import Scenario

if TYPE_CHECKING:
    from secmas.cti.placement import HygieneFilter
    from secmas.mtd.execution import MovingTargetLoop

PASSWORD_VARIABLE = "SECMAS_TAXII_PASSWORD"
"""Where a run's TAXII server password is read from (never an argument)."""
USER_VARIABLE = "SECMAS_TAXII_USER"
"""Where a run's TAXII user is read from (default `secmas`)."""
KEYS_VARIABLE = "SECMAS_CTI_KEYS"
"""The JWK Set file of the domains' Ed25519 keys (`secmas.cti.signing.load_keys`); unset,
each domain's key is drawn for the run."""


@dataclass
class AdaptiveDefence:
    """The run's CTI filter and MTD loop (either may be absent)."""

    hygiene: HygieneFilter | None = None
    mtd: MovingTargetLoop | None = None

    @property
    def loops(self) -> list[Any]:
        return [x for x in (self.hygiene, self.mtd) if x is not None]

    def write(self, folder: Path) -> list[Path]:
        """The shared STIX bundle and the sharing decisions, beside the run's files."""
        return [] if self.hygiene is None else self.hygiene.write(folder)


def adaptive_defence(scenario: Scenario, source: Path, taxii: str | None = None) -> AdaptiveDefence:
    """Share the scenario's CTI (over a medallion of the run's, or the TAXII server at
    `taxii`, user and password from the environment; each domain signing with its key
    from the file in $SECMAS_CTI_KEYS, or one drawn for the run) and plan its moves before
    the run; `source` is the scenario's file (its relative paths are read beside it)."""
    if scenario.cti is None and scenario.mtd is None:
        return AdaptiveDefence()
    # stix2, cvss and the planner's numpy/scipy work load only here
    from secmas.cti.errors import CTIInputError
    from secmas.cti.placement import HygieneFilter
    from secmas.cti.signing import KeyFileError, load_keys
    from secmas.cti.taxii import TaxiiAccess, TaxiiError
    from secmas.mtd.execution import MovingTargetLoop

    base = source.parent
    defence = AdaptiveDefence()
    if scenario.cti is not None:
        access = None
        if taxii is not None:
            if not taxii.startswith(("http://", "https://")):
                raise RunInputError(
                    f"{taxii}: expected the http(s) URL of a TAXII 2.1 server", option="taxii"
                )
            user = os.environ.get(USER_VARIABLE, "secmas")
            access = TaxiiAccess(taxii, user, os.environ.get(PASSWORD_VARIABLE, ""))
        key_file = os.environ.get(KEYS_VARIABLE)
        try:
            keys = None if key_file is None else load_keys(key_file)
            defence.hygiene = HygieneFilter.prepare(scenario, base, scenario.cti, access, keys)
        except CTIInputError as exc:
            raise RunInputError(f"{source}: cti: {exc}") from None
        except KeyFileError as exc:
            raise RunInputError(f"${KEYS_VARIABLE}: {exc}") from None
        except TaxiiError as exc:
            if access is not None:
                raise RunInputError(f"{taxii}: {exc}", option="taxii") from None
            raise RunFailed(f"{source}: cti: TAXII exchange failed: {exc}") from None
    if scenario.mtd is not None:
        try:
            loop = MovingTargetLoop
            if scenario.network.engine == "emulated":  # the moves really happen there
                from secmas.mtd.emulated import EmulatedMovingTargetLoop as loop
            defence.mtd = loop(
                scenario,
                scenario.mtd,
                forecast=_forecast(scenario, base),
                **_mtd_inputs(defence),
            )
        except ValueError as exc:
            raise RunInputError(f"{source}: mtd: {exc}") from None
    return defence


def _forecast(scenario: Scenario, base: Path) -> Any:
    """The CNFs' traffic forecast for `mtd.timing: low-load` (None otherwise): the
    scenario's forecaster model file, read with torch (loaded only here)."""
    assert scenario.mtd is not None
    if scenario.mtd.forecaster is None:
        return None
    from secmas.analytics.forecast import Forecaster, metric_forecast
    from secmas.analytics.modelfile import ModelFileError
    from secmas.network.dataplane.cnf import METRICS

    path = base / scenario.mtd.forecaster
    try:
        return metric_forecast(Forecaster.load(path), METRICS)
    except (ModelFileError, OSError) as exc:
        raise ValueError(f"forecaster {path}: {exc}") from None


def _mtd_inputs(defence: AdaptiveDefence) -> dict[str, Any]:
    """What MTD takes from the run's CTI, as plain data: the findings the subscriber
    received (the CNFs' vulnerabilities) and, when moving is a sensitive goal, the PoPs
    it keeps out."""
    from secmas.mtd.exposure import findings_of
    from secmas.scenario.model import MOVE_GOAL

    hygiene = defence.hygiene
    if hygiene is None:
        return {}
    findings = findings_of(r for received in hygiene.exchanged.received for r in received.reports)
    sensitive = MOVE_GOAL in hygiene.settings.sensitive_goals
    return {"cti": findings, "excluded": tuple(hygiene.excluded) if sensitive else ()}
