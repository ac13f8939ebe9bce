"""The real-CNF run of the application layer: the agents defend a real nginx under real
attacks on the emulated data plane (`secmas demo --scenario cnf-attack --dataplane
emulated` runs the embedded `cnf-emulated`). It is a run of `secmas.api.run` whose
closed loop watches the real CNF (`secmas.pipeline.realcnf`) with the detector the
caller chooses; each mitigation is a goal the agents auction, and the report's
`analytics.mitigations` says, from real measurements, who won it, the detection delay
and the time to mitigate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from secmas.api.errors import RunInputError
from secmas.api.observer import RunObserver
from secmas.api.run import RunResult, execute, plan
from secmas.api.scenarios import embedded_path
from secmas.scenario.model import Scenario

if TYPE_CHECKING:
    from secmas.pipeline.cnf_emulated import DetectorChoice

SCENARIO = "cnf-emulated"
"""The embedded scenario of the real-CNF demo."""


def run_cnf(
    scenario: Scenario | Path | str = SCENARIO,
    *,
    out: Path | None = None,
    metrics_port: int | None = None,
    detector: str | None = None,
    recording: Path | None = None,
    observer: RunObserver | None = None,
    **options: Any,
) -> RunResult:
    """Run the scenario on the emulated engine with its closed loop on the real CNF;
    `detector` names a detector to train on the run's normal phase or a model file of
    `secmas detect fit`, `recording` adds a recording of normal behaviour to its training
    data; `options` are `secmas.api.run`'s."""
    source = embedded_path(SCENARIO) if scenario == SCENARIO else scenario
    checked = plan(
        source,
        engine="emulated",
        detect=True,
        metrics_port=metrics_port,
        detector=detector_choice(detector, recording),
        **options,
    )
    return execute(checked, out=out, observer=observer)


def detector_choice(value: str | None, recording: Path | None = None) -> DetectorChoice:
    """A detector name or model file, and a recording, as the real CNF's detector: one to
    train on the run's normal phase, or a model file to use as it is."""
    from secmas.analytics.detectors import DETECTORS
    from secmas.pipeline.cnf_emulated import DetectorChoice

    if value is None or value in DETECTORS:
        return DetectorChoice(model=value or "zscore", recording=recording)
    path = Path(value)
    if not path.is_file():
        raise RunInputError(
            f"{value}: neither a detector ({', '.join(DETECTORS)}) nor a file", option="detector"
        )
    return DetectorChoice(file=path, recording=recording)
