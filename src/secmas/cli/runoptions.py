"""The options `secmas run` and `secmas demo` share, declared once.

Both commands run a scenario the same way; only how they name it differs (a file, an
embedded name). So every option of a run is defined here, in the order `--help` lists
them, gathered into one `RunOptions` value, and `with_run_options` gives a command all of
them after its own: a new run option is added in one place and both commands take it,
with the same name, help and checks.

What only one of them takes could not serve the other: `run` names its scenario by the
positional SCENARIO file, `demo` by `--scenario NAME`; and `demo`'s `--detector`,
`--recording` and `--attack-seed` shape the real CNF's demo (`--scenario cnf-attack
--dataplane emulated`, `secmas.cli.cnfemulated`), which runs no scenario file, so `run`
has nothing to give them to. A test holds the two commands to these differences.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer

from secmas.cli.adaptive import TaxiiOption
from secmas.cli.arguments import (
    SEED_RANGE,
    ForceOption,
    JsonOption,
    OutOption,
    parse_seed,
)
from secmas.cli.bus import BusCAOption, BusKeysOption, BusOption
from secmas.cli.grammar import SPEED
from secmas.cli.ui import UIExitOption, UIOption, UIPortOption

SeedOption = Annotated[
    int | None,
    typer.Option(
        parser=parse_seed, metavar="N", help=f"override the scenario's seed ({SEED_RANGE})"
    ),
]

LedgerOption = Annotated[
    str | None,
    typer.Option(
        "--ledger",
        metavar="URL",
        help="'memory' (in-process EVM, the default) or an Ethereum JSON-RPC URL (http://…)",
    ),
]
MlfoKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--mlfo-key",
        metavar="FILE",
        help="with a JSON-RPC --ledger: the MLFO's account key (64 hex digits, mode 600); "
        "default the file SECMAS_MLFO_KEY names, else the node's first unlocked account",
    ),
]
SecaasKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--secaas-key",
        metavar="FILE",
        help="with a JSON-RPC --ledger: the SECaaS's account key (64 hex digits, mode 600); "
        "default the file SECMAS_SECAAS_KEY names, else the node's second unlocked account",
    ),
]
InsecureOption = Annotated[
    bool,
    typer.Option("--insecure", help="skip wrapping, attestation and keys (for measurements)"),
]
ProcessesOption = Annotated[
    bool,
    typer.Option("--processes", help="run each agent as its own OS process over NATS"),
]
HostsOption = Annotated[
    Path | None,
    typer.Option(
        "--hosts",
        metavar="FILE",
        help="with --processes: start each agent on a host of this host list (YAML: name, "
        "address, start template such as 'ssh -o BatchMode=yes user@{address} {command}', "
        "pops); needs --bus and --ledger the hosts can reach",
    ),
]
PodsOption = Annotated[
    Path | None,
    typer.Option(
        "--pods",
        metavar="DIR",
        help="with --processes: run each agent as its pod of these manifests (`secmas deploy "
        "kubernetes SCENARIO --podman -o DIR`) with podman kube play, NATS and the ledger "
        "as their pods too; all removed when the run ends",
    ),
]
ServiceOption = Annotated[
    Path | None,
    typer.Option(
        "--service",
        metavar="FILE",
        help="a network-service descriptor (NSD YAML) replacing the scenario's",
    ),
]
TamperOption = Annotated[
    str | None,
    typer.Option(
        "--tamper",
        metavar="POP",
        help="patch this PoP's agent in memory 5 s into the run; attestation must revoke it",
    ),
]
SpeedOption = Annotated[
    float | None,
    typer.Option(
        "--speed",
        min=0.1,
        max=1000.0,
        metavar="X",
        help=f"with --processes or --ui: simulated seconds per wall second (default {SPEED:g})",
    ),
]
DataplaneOption = Annotated[
    str | None,
    typer.Option(
        "--dataplane",
        metavar="ENGINE",
        help="'simulator' (flow-level, virtual clock) or 'emulated' (a real Linux network "
        "on this machine, real packets, real time; needs root); default: the scenario's "
        "network.engine",
    ),
]
PlaintextOption = Annotated[
    bool,
    typer.Option(
        "--plaintext", help="attest and key the agents but send their messages unencrypted"
    ),
]


DetectOption = Annotated[
    bool,
    typer.Option(
        "--detect",
        help="run the security closed loop live: monitoring, LSTM autoencoder, profiler, "
        "decisions handed to the agents as goals",
    ),
]
MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=0,
        max=65535,
        metavar="PORT",
        help="with the closed loop: serve Prometheus metrics on this port while the run is live",
    ),
]
RetrainOption = Annotated[
    bool,
    typer.Option("--retrain", help="with the closed loop: train the models even if cached"),
]
FederatedOption = Annotated[
    bool,
    typer.Option(
        "--federated",
        help="run the closed loop with its autoencoder trained by the agents: FedAvg over "
        "one agent per PoP, each on its own telemetry, every exchange a secure sum",
    ),
]
RunQuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="for big runs: no progress bar, step lines or per-auction, placement, "
        "attestation and workflow tables; the summary, warnings and errors remain",
    ),
]
PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        metavar="FILE",
        help="security intents (YAML) or an SSLA (XML) to assess live, replacing the "
        "scenario's own policy: breaches are enforced, explained and audited",
    ),
]


@dataclass(frozen=True)
class RunOptions:
    """Every option of a run, as given on the command line (None or False: not given);
    each field's type is its typer declaration, so the commands' parameters come from
    here alone."""

    out: OutOption = None
    seed: SeedOption = None
    dataplane: DataplaneOption = None
    ledger: LedgerOption = None
    mlfo_key: MlfoKeyOption = None
    secaas_key: SecaasKeyOption = None
    insecure: InsecureOption = False
    plaintext: PlaintextOption = False
    processes: ProcessesOption = False
    bus: BusOption = None
    bus_ca: BusCAOption = None
    bus_keys: BusKeysOption = None
    hosts: HostsOption = None
    pods: PodsOption = None
    speed: SpeedOption = None
    tamper: TamperOption = None
    service: ServiceOption = None
    detect: DetectOption = False
    metrics_port: MetricsPortOption = None
    retrain: RetrainOption = False
    federated: FederatedOption = False
    policy: PolicyOption = None
    taxii: TaxiiOption = None
    ui: UIOption = False
    ui_port: UIPortOption = None
    ui_exit: UIExitOption = False
    force: ForceOption = False
    quiet: RunQuietOption = False
    as_json: JsonOption = False


_DECLARED = get_type_hints(RunOptions, include_extras=True)
_PARAMETERS = tuple(
    inspect.Parameter(
        f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=_DECLARED[f.name]
    )
    for f in fields(RunOptions)
)


def with_run_options(command: Callable[..., None]) -> Callable[..., None]:
    """`command`, whose last parameter is `options: RunOptions`, as a typer command that
    takes its own parameters and then every run option. Register it under its name
    (`app.command("run")`): the function typer calls is this module's, keeping its own
    name; like `functools.wraps` it points to the command (`__wrapped__`), which the
    agents' runtime measurement follows from a wrapper of the package's own code."""
    own = list(inspect.signature(command, eval_str=True).parameters.values())
    if not own or own[-1].name != "options":
        raise TypeError(f"{command.__name__}: its last parameter must be `options`")
    own = own[:-1]

    def invoked(**given: Any) -> None:
        shared = {p.name: given.pop(p.name) for p in _PARAMETERS}
        command(**given, options=RunOptions(**shared))

    invoked.__signature__ = inspect.Signature([*own, *_PARAMETERS])  # type: ignore[attr-defined]
    invoked.__annotations__ = {p.name: p.annotation for p in (*own, *_PARAMETERS)}
    invoked.__doc__ = command.__doc__  # the command's help
    invoked.__wrapped__ = command  # type: ignore[attr-defined]  # measured as the command
    return invoked
