"""The step loops a run composes beside its agents: the security closed loop
(`secmas.analytics`) and the SSLA manager (`secmas.policy`); the adaptive defence is in
`secmas.api.defence`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from secmas.api.errors import RunFailed, RunInputError
from secmas.api.observer import RunObserver
from secmas.scenario.model import Scenario

if TYPE_CHECKING:
    from secmas.analytics.loop import ClosedLoop, LoopSettings
    from secmas.pipeline.cnf_emulated import DetectorChoice
    from secmas.policy.manager import SSLAManager
    from secmas.policy.ssla import SSLA
    from secmas.secagg.fedrun import AgentTraining


def policies(scenario: Scenario, source: Path, policy: Path | None) -> list[SSLA]:
    """The SSLAs to assess in the run: `policy`, else the scenario's own intent file
    (relative to its file `source`), else none; checked against the scenario's slices."""
    path = policy
    if path is None and scenario.policy is not None:
        path = source.parent / scenario.policy
    if path is None:
        return []
    from secmas.policy.documents import PolicyInputError, read_policy
    from secmas.policy.manager import check_scenario

    try:
        sslas, _what = read_policy(path)
    except PolicyInputError as exc:
        raise RunInputError(*exc.problems) from None
    problems = check_scenario(sslas, scenario)
    if problems:
        raise RunInputError(*(f"{path}: {problem}" for problem in problems))
    return sslas


def ssla_manager(
    scenario: Scenario,
    sslas: Sequence[SSLA],
    loop: ClosedLoop | None,
    folder: Path,
    run_id: str,
) -> SSLAManager:
    """The run's SSLA manager, auditing into `folder`/audit.jsonl (anchored on the ledger)."""
    from secmas.policy.audit import ANCHORS_FILE, AUDIT_FILE, AuditLog, audit_log_id
    from secmas.policy.manager import Anchoring, SSLAManager
    from secmas.policy.notary import NotaryError, check_key_file, notary_key_path

    try:  # the notary process loads the key; the run only checks that it is the user's
        check_key_file(notary_key_path())
    except NotaryError as exc:
        raise RunInputError(f"audit notary key: {exc}") from None
    log_file = folder / AUDIT_FILE
    if log_file.exists():
        raise RunInputError(
            f"{log_file} holds the audit log of an earlier run: choose another "
            "--out (audit logs are never overwritten)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        audit = AuditLog(log_file)
    except OSError as exc:
        raise RunFailed(f"cannot write the run to {folder}: {exc}") from None
    explain = None
    if loop is not None:  # SHAP explanations of the closed loop's alerts: the 'ml' extra
        from secmas.policy.attribution import alert_explainer

        def explain(alert: Any, samples: Any) -> Any:
            # the loop's detector when the alert is explained: the run's agents may have
            # trained it only after bring-up (`secmas.secagg.fedrun`)
            return alert_explainer(loop.detector, loop.profiler, scenario)(alert, samples)

    anchoring = Anchoring(audit_log_id(run_id), folder / ANCHORS_FILE, notary=notary_key_path())
    return SSLAManager(sslas, audit, closed_loop=loop, explain=explain, anchoring=anchoring)


def policy_files(folder: Path, sslas: Sequence[SSLA], manager: SSLAManager) -> list[Path]:
    """The SSLAs as XML beside the run's audit log and its anchors file (closes the log)."""
    from secmas.policy.ssla import to_xml

    manager.audit.close()
    paths = [manager.audit.path] if manager.audit.path is not None else []
    if manager.anchoring is not None and manager.anchoring.path is not None:
        paths.append(manager.anchoring.path)
    for ssla in sslas:
        path = folder / f"ssla-{ssla.id.removeprefix('ssla-')}.xml"
        path.write_text(to_xml(ssla), encoding="utf-8")
        paths.append(path)
    return paths


def agent_training(
    scenario: Scenario, loop: ClosedLoop | None, observer: RunObserver
) -> AgentTraining | None:
    """The federated training of the closed loop's detector by the run's attested agents
    after bring-up (`secmas.secagg.fedrun`), when the run has it."""
    if loop is None or scenario.analytics.training != "federated":
        return None
    from secmas.secagg.fedrun import AgentTraining, trains_among_agents

    if not trains_among_agents(scenario):
        return None
    try:
        return AgentTraining(scenario, loop, lambda text: observer.note(f"closed loop: {text}"))
    except ValueError as exc:
        raise RunInputError(f"closed loop: {exc}") from None


def closed_loop(
    scenario: Scenario,
    observer: RunObserver,
    *,
    metrics_port: int | None = None,
    retrain: bool = False,
    detector: DetectorChoice | None = None,
) -> ClosedLoop:
    """The scenario's security closed loop, its models trained or loaded from the cache;
    on the emulated engine, the loop on its real CNF (`real_cnf_loop`, with `detector`)."""
    if scenario.network.engine == "emulated":
        return real_cnf_loop(scenario, observer, metrics_port, detector)
    from secmas.analytics.loop import ClosedLoop
    from secmas.analytics.reference import detection_models, profiler_model
    from secmas.analytics.threads import limit_torch_threads

    def say(text: str) -> None:
        observer.note(f"closed loop: {text}")

    trainer = None
    among_agents = False
    if scenario.analytics.training == "federated":
        from secmas.secagg.federated import federated_trainer
        from secmas.secagg.fedrun import trains_among_agents

        among_agents = trains_among_agents(scenario)  # else before the run, keys of its own
        trainer = None if among_agents else federated_trainer(scenario.analytics.rounds)
    threads = limit_torch_threads()  # deliberate on a small machine, not PyTorch's default
    say(f"preparing the detection models with {threads} PyTorch thread(s)")
    started = time.perf_counter()
    detector = None
    try:
        with observer.busy("preparing the detection models"):  # minutes on 2 cores
            if among_agents:  # the autoencoder: by the attested agents, after bring-up
                profiler = profiler_model(scenario, retrain=retrain, say=say)
            else:
                detector, profiler = detection_models(
                    scenario, retrain=retrain, say=say, trainer=trainer
                )
    except ValueError as exc:  # a scenario federated training cannot work with
        raise RunInputError(f"closed loop: {exc}") from None
    say(f"models ready in {time.perf_counter() - started:.1f} s")
    return ClosedLoop(
        detector,
        profiler,
        loop_settings(scenario, metrics_port, training=scenario.analytics.training),
    )


def real_cnf_loop(
    scenario: Scenario,
    observer: RunObserver,
    metrics_port: int | None = None,
    detector: DetectorChoice | None = None,
) -> ClosedLoop:
    """The closed loop on the emulated engine's real CNF, whose detector (`detector`, by
    default the robust z-score baseline) learns the shipped normal recording and the
    run's warm-up (`secmas.pipeline.realcnf`); its files are read here, before any work."""
    from secmas.network.emulation.workload import served_cnf
    from secmas.network.incident import inside_kinds
    from secmas.pipeline.cnf_emulated import DetectorChoice, PreparedDetector
    from secmas.pipeline.errors import RunError
    from secmas.pipeline.realcnf import (
        REBASELINE_WINDOWS,
        SETTLE,
        RealCNFLoop,
        check_warmup,
    )

    if served_cnf(scenario) is None:
        raise RunInputError(
            "closed loop: on the emulated engine it watches the CNF that serves the traffic "
            "server (a `cnfs` entry whose host is traffic.server); the scenario has none"
        )
    if scenario.analytics.training == "federated":
        raise RunInputError(
            "closed loop: federated training runs on the simulator; on the emulated engine "
            "the real CNF's detector learns a normal recording and the run's warm-up"
        )
    inside = inside_kinds()
    problems = [
        f"incidents[{i}]: the emulated engine runs {', '.join(sorted(inside))} inside "
        f"its real CNF, not {incident.kind} (run it on the simulator)"
        for i, incident in enumerate(scenario.incidents)
        if incident.kind not in inside
    ]
    if problems:
        raise RunInputError(*problems)
    try:
        check_warmup(scenario)
        prepared = PreparedDetector.read(detector or DetectorChoice(seed=scenario.seed))
    except RunError as exc:
        raise RunInputError(f"closed loop: {exc}") from None
    return RealCNFLoop(
        prepared,
        loop_settings(scenario, metrics_port, settle=SETTLE, rebaseline_windows=REBASELINE_WINDOWS),
        lambda text: observer.note(f"closed loop: {text}"),
    )


def loop_settings(scenario: Scenario, metrics_port: int | None, **extra: Any) -> LoopSettings:
    """The closed loop's settings from the scenario's analytics section, with `extra`
    (how the models train, or the real CNF's settling and re-baselining)."""
    from secmas.analytics.loop import LoopSettings

    analytics = scenario.analytics
    return LoopSettings(
        cooldown=analytics.cooldown,
        threshold=analytics.threshold,
        trust_threshold=analytics.trust_threshold,
        metrics_port=metrics_port,
        **extra,
    )
