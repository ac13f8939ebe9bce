"""The real-CNF run of the application layer: the closed loop on a real nginx under real
attacks, read through a real Prometheus, on the emulated data plane (`secmas demo
--scenario cnf-attack --dataplane emulated`). Its outcome is per attack (detected,
mitigated, when), not the DDoS acceptance figures of `secmas.api.run`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from secmas.api.errors import RunFailed, RunInputError
from secmas.api.observer import RunObserver
from secmas.api.scenarios import resolve
from secmas.scenario.model import Scenario

if TYPE_CHECKING:
    from secmas.pipeline.cnf_emulated import CNFRunResult


def run_cnf(
    scenario: Scenario | Path | str = "cnf-attack",
    *,
    out: Path | None = None,
    prometheus: str | None = None,
    metrics_port: int | None = None,
    detector: str | None = None,
    recording: Path | None = None,
    observer: RunObserver | None = None,
) -> CNFRunResult:
    """Run the scenario's CNF on the emulated engine with its attacks and the closed loop;
    `prometheus` reads an existing server instead of starting one, `detector` names a
    detector to train on the run's normal phase or a model file of `secmas detect fit`,
    `recording` adds a recording of normal behaviour to its training data."""
    from secmas.analytics.prometheus import PrometheusClient, PrometheusError
    from secmas.analytics.promserver import PrometheusFailed, PrometheusUnavailable
    from secmas.network.emulation.errors import EmulationFailed, EmulationUnavailable, PlanError
    from secmas.pipeline.cnf_emulated import CNFRunSettings, run_cnf_emulated
    from secmas.pipeline.errors import RunError

    observer = observer or RunObserver()
    if prometheus is not None:
        try:
            PrometheusClient(prometheus)
        except PrometheusError as exc:
            raise RunInputError(f": {exc}", option="prometheus") from None
    choice = detector_choice(detector)
    loaded = resolve(scenario).scenario
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = out or Path("runs") / f"cnf-emulated-{stamp}"
    try:
        settings = CNFRunSettings(
            prometheus=prometheus, metrics_port=metrics_port or 0, recording=recording, **choice
        )
        observer.note(
            "emulated CNF: nginx in the server's namespace, real HTTP flood, Slowloris, "
            "SYN flood, CPU hog and memory leak; the loop reads Prometheus"
        )
        return run_cnf_emulated(loaded, folder, settings, say=observer.note)
    except (EmulationUnavailable, PlanError, PrometheusUnavailable, RunError) as exc:
        raise RunInputError(f"emulated CNF: {exc}") from None
    except (EmulationFailed, PrometheusError, PrometheusFailed) as exc:
        raise RunFailed(f"emulated CNF: {exc}") from None


def detector_choice(value: str | None) -> dict[str, object]:
    """A detector name or model file as CNFRunSettings fields: a detector to train on the
    run's normal phase, or a model file to use as it is."""
    from secmas.analytics.detectors import DETECTORS

    if value is None:
        return {}
    if value in DETECTORS:
        return {"model": value}
    path = Path(value)
    if not path.is_file():
        raise RunInputError(
            f"{value}: neither a detector ({', '.join(DETECTORS)}) nor a file", option="detector"
        )
    return {"detector": path}
