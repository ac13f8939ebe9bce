"""The MLFO's and SECaaS's ledger keys of a run, checked before any work: each
from its key file (`--mlfo-key`, `--secaas-key`, else `SECMAS_MLFO_KEY`,
`SECMAS_SECAAS_KEY`; `secmas.ledger.keyfile`), and the accounts able to pay for the run's
planned gas at the node's current fee cap (`secmas.ledger.funding`).

Keys concern a JSON-RPC ledger: the in-process chain funds its own two accounts at
genesis, so a key option with it is refused, and the variables are not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from secmas.api.errors import RunInputError
from secmas.ledger.connection import connect
from secmas.ledger.errors import LedgerError, LedgerUnavailable
from secmas.ledger.funding import InsufficientFunds, budget, require_funds, run_steps
from secmas.ledger.keyfile import KeyFileError, LedgerKeys, ledger_keys
from secmas.ledger.node import MEMORY
from secmas.scenario.model import Scenario
from secmas.trust.groups import attestation_groups


def run_keys(
    scenario: Scenario, mlfo: Path | None, secaas: Path | None, environ: Mapping[str, str]
) -> LedgerKeys:
    """The run's keys, read and checked; RunInputError names the option or variable, the
    file and the problem, or the account that cannot pay, its balance and the need."""
    security = scenario.security
    if not security.enabled or security.ledger == MEMORY:
        for option, path in (("mlfo_key", mlfo), ("secaas_key", secaas)):
            if path is not None:
                raise RunInputError(
                    ": only with a JSON-RPC --ledger URL (the in-process chain funds its "
                    "own accounts; --insecure uses none)",
                    option=option,
                )
        return LedgerKeys()
    try:
        keys = ledger_keys(mlfo, secaas, environ)
    except KeyFileError as exc:
        raise RunInputError(str(exc)) from None
    check_funds(scenario, keys)
    return keys


def check_funds(scenario: Scenario, keys: LedgerKeys) -> None:
    """RunInputError when the MLFO or the SECaaS on the scenario's JSON-RPC ledger cannot
    pay for the run; an unreachable node is left to the run, which names it."""
    security = scenario.security
    mlfo_key, secaas_key = keys.hex()
    agents = len(scenario.pops)
    attestation = security.attestation
    plan = attestation.plan or scenario.pops
    groups = attestation_groups(plan, attestation.period, attestation.interval)
    duration = scenario.traffic.duration if scenario.traffic else 0.0
    try:
        ledger = connect(security.ledger, mlfo_key=mlfo_key, secaas_key=secaas_key)
        steps = run_steps(duration, attestation.period, len(plan), len(groups))
        require_funds(ledger.chain, ledger.mlfo, ledger.secaas, budget(ledger.chain, agents, steps))
    except LedgerUnavailable:
        return
    except InsufficientFunds as exc:
        raise RunInputError(str(exc)) from None
    except LedgerError as exc:
        raise RunInputError(str(exc), option="ledger") from None
