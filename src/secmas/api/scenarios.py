"""The scenario a run is given, resolved and adjusted by the run's parameters.

A scenario comes as a file, as YAML text, as an embedded name (`ddos-6pop`, …) or as the
pydantic model; every form is checked as `secmas scenario validate` checks a file. The
parameters then override what the file says (engine, seed, ledger, security, closed
loop, network service), each checked again by the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from secmas.api.errors import RunInputError
from secmas.scenario.loader import Problem, ScenarioError, load_service
from secmas.scenario.model import MAX_SEED, Scenario
from secmas.scenario.validation import load_runnable, run_problems, runnable_text

EMBEDDED = (
    "ddos-6pop",
    "cnf-attack",
    "spoofed-injection",
    "adaptive-defence",
    "ddos-emulated",
)
"""Scenarios shipped with secmas (scenarios/<name>.yaml)."""
ENGINES = ("simulator", "emulated")


def embedded_path(name: str = "ddos-6pop") -> Path:
    """The file of an embedded scenario (also `adaptive-emulated`, the emulated
    adaptive-defence)."""
    return Path(str(resources.files("secmas") / "data" / f"{name}.yaml"))


@dataclass(frozen=True)
class Resolved:
    """A checked scenario and where it came from: its file, whose folder its relative
    paths (policy, CTI reports, forecaster) are read from (for text or a model, a name in
    the working folder)."""

    scenario: Scenario
    source: Path


def resolve(scenario: Scenario | Path | str) -> Resolved:
    """The scenario as a checked model: a `Path` or a string naming a file or an embedded
    scenario is loaded from it; any other string is YAML text; a model is checked as is."""
    try:
        if isinstance(scenario, Scenario):
            return Resolved(_runnable(scenario), Path("<scenario>"))
        if isinstance(scenario, str) and "\n" not in scenario:
            if scenario in EMBEDDED or scenario == "adaptive-emulated":
                scenario = embedded_path(scenario)
            elif Path(scenario).suffix in (".yaml", ".yml") or Path(scenario).exists():
                scenario = Path(scenario)
        if isinstance(scenario, Path):
            return Resolved(load_runnable(scenario), scenario)
        return Resolved(runnable_text(scenario), Path("<string>"))
    except ScenarioError as exc:
        raise RunInputError(*(str(p) for p in exc.problems)) from None


def _runnable(scenario: Scenario) -> Scenario:
    problems = run_problems(scenario)
    if problems:
        raise ScenarioError([Problem("<scenario>", at, message) for at, message in problems])
    return scenario


def with_engine(
    scenario: Scenario,
    engine: str | None,
    processes: bool,
    *,
    hosts: bool = False,
    bus: bool = False,
    pods: bool = False,
) -> Scenario:
    """The scenario on the data-plane engine `engine` names (checked). On the emulated
    engine, agents as processes run inside their PoPs' namespaces on this machine and
    reach the run's own bus and ledger over the emulated links, so a host list (`hosts`),
    a bus of the caller's (`bus`) or a deployment's pods (`pods`, on podman's network) is
    refused, naming why."""
    if engine is not None:
        if engine not in ENGINES:
            raise RunInputError(f"{engine!r}: choose simulator or emulated", option="engine")
        network = scenario.network.model_copy(update={"engine": engine})
        scenario = scenario.model_copy(update={"network": network})
    if scenario.network.engine == "emulated" and processes:
        if hosts:
            raise RunInputError(
                ": on the emulated data plane each agent runs inside its PoP's namespace on "
                "this machine; drop --hosts (or run on the simulator)",
                option="hosts",
            )
        if bus:
            raise RunInputError(
                ": on the emulated data plane the agents reach the run's own NATS server on "
                "its control host, over the emulated links; drop --bus",
                option="bus",
            )
        if pods:
            raise RunInputError(
                ": on the emulated data plane each agent runs inside its PoP's namespace (a "
                "container where podman is), not in a pod on podman's network; drop --pods "
                "(or run on the simulator)",
                option="pods",
            )
    return scenario


def with_seed(scenario: Scenario, seed: int | None) -> Scenario:
    if seed is None:
        return scenario
    if not 0 <= seed <= MAX_SEED:
        raise RunInputError(f"{seed}: a seed is 0 to {MAX_SEED}", option="seed")
    return scenario.model_copy(update={"seed": seed})


def with_service(scenario: Scenario, service: Path | None) -> Scenario:
    """The scenario with the network service of an NSD file, when one is given."""
    if service is None:
        return scenario
    try:
        return load_service(service, scenario)
    except ScenarioError as exc:
        raise RunInputError(*(str(p) for p in exc.problems)) from None


def with_security(
    scenario: Scenario, ledger: str | None, insecure: bool, plaintext: bool = False
) -> Scenario:
    """The scenario with the run's security overrides, checked like the file."""
    security = scenario.security
    if ledger is not None:
        try:
            security = security.model_validate({**security.model_dump(), "ledger": ledger})
        except ValueError:
            raise RunInputError(
                f"{ledger!r}: expected 'memory' or http(s)://HOST:PORT", option="ledger"
            ) from None
    if insecure:
        security = security.model_copy(update={"enabled": False})
    if plaintext:
        security = security.model_copy(update={"encrypt": False})
    return scenario.model_copy(update={"security": security})


def with_analytics(scenario: Scenario, detect: bool, federated: bool = False) -> Scenario:
    """The scenario with the closed loop on when `detect` (or `federated`, which also has
    the agents train its autoencoder) asks for it."""
    if not (detect or federated):
        return scenario
    if not scenario.cnfs:
        option = "federated" if federated else "detect"
        raise RunInputError(f": scenario {scenario.id!r} has no CNFs to watch", option=option)
    update: dict[str, object] = {"detect": True}
    if federated:
        update["training"] = "federated"
    analytics = scenario.analytics.model_copy(update=update)
    return scenario.model_copy(update={"analytics": analytics})


TAMPER_AT = 5.0
"""When `tamper` patches its agent (simulated seconds)."""


def tamper_plan(scenario: Scenario, tamper: str | None) -> dict[str, float] | None:
    """The PoP whose agent is patched in memory and when, checked: a PoP of the scenario,
    attestation on, and a mutual attestation step that measures its agent after the patch
    and before the run ends, to catch it."""
    if tamper is None:
        return None
    if tamper not in {p.id for p in scenario.pops}:
        raise RunInputError(f"{tamper!r}: not a PoP of the scenario", option="tamper")
    if not scenario.security.enabled:
        raise RunInputError(
            "with security off (insecure): nothing would detect it", option="tamper"
        )
    caught = attested_after(scenario, tamper, TAMPER_AT)
    duration = scenario.traffic.duration if scenario.traffic else 0.0
    if caught is None:
        raise RunInputError(
            f"{tamper!r}: not in security.attestation.plan, so never attested: nothing "
            "would detect it",
            option="tamper",
        )
    if caught >= duration:
        raise RunInputError(
            f"{tamper!r}: patched at {TAMPER_AT:g} s, its agent is next attested at "
            f"{caught:g} s, after the run's {duration:g} s: nothing would detect it "
            "(shorten security.attestation.period)",
            option="tamper",
        )
    return {tamper: TAMPER_AT}


def attested_after(scenario: Scenario, pop: str, at: float) -> float | None:
    """The run second of the first mutual attestation step that measures `pop`'s agent at
    or after `at` (None when the plan leaves it out): after the initial round, one step
    every `period` seconds along the plan (`Orchestrator`; `001_…` Section 3.B), the
    k-th measuring its (k-1 mod n)-th agent. On the emulated engine the steps count from
    the end of bring-up, about a second later."""
    attestation = scenario.security.attestation
    pops = [p.id for p in scenario.pops]
    order = [p for p in attestation.plan or pops if p in pops]
    if pop not in order:
        return None
    step = order.index(pop) + 1
    while step * attestation.period < at:
        step += len(order)
    return step * attestation.period
