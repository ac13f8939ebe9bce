"""The real-CNF run of the application layer: the agents defend a real nginx under real
attacks on the emulated data plane (`secmas demo --scenario cnf-attack --dataplane
emulated` runs the embedded `cnf-emulated`). It is a run of `secmas.api.run` whose
closed loop watches the real CNF (`secmas.pipeline.realcnf`) with the detector the
caller chooses, continuously, while an attacker process of its own attacks the CNF on a
schedule drawn from its seed, which the loop is never told
(`network.emulation.attacker_process`). Each mitigation is a goal the agents auction;
the report's `analytics.mitigations` says, from real measurements, who won it and the
time to mitigate, and `analytics.run_score`, computed after the run from what the
attacker did, the detection delay and time to mitigate of each attack, and the
false alerts and needless mitigations per hour."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from secmas.api.errors import RunInputError
from secmas.api.observer import RunObserver
from secmas.api.run import PlanOptions, RunResult, execute, plan
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
    channels: Sequence[str] | None = None,
    attack_seed: int | None = None,
    timeline: bool = False,
    observer: RunObserver | None = None,
    force: bool = False,
    **options: Unpack[PlanOptions],
) -> RunResult:
    """Run the scenario on the emulated engine with its closed loop on the real CNF;
    `detector` names a detector to train or a model file of `secmas detect fit`,
    `recording` the normal recording it trains on beside the run's warm-up (default the
    shipped one), `channels` the detection channels the loop alerts on (default
    `channels.DEFAULT_CHANNELS`), `attack_seed` the hidden attacker's seed (default the scenario's);
    `timeline`: the scenario's own attack and incidents instead of a hidden attacker (a
    known attack, for tests); `force` and `options` are `secmas.api.run`'s."""
    from secmas.network.emulation.attacker_process import HiddenAttacker
    from secmas.pipeline.realcnf import WARMUP

    source = embedded_path(SCENARIO) if scenario == SCENARIO else scenario
    checked = plan(
        source,
        engine="emulated",
        detect=True,
        metrics_port=metrics_port,
        detector=detector_choice(detector, recording, channels),
        **options,
    )
    if timeline:
        return execute(checked, out=out, observer=observer, force=force)
    seed = checked.scenario.seed if attack_seed is None else attack_seed
    attacker = HiddenAttacker(seed, start=WARMUP)
    return execute(replace(checked, attacker=attacker), out=out, observer=observer, force=force)


def detector_choice(
    value: str | None, recording: Path | None = None, channels: Sequence[str] | None = None
) -> DetectorChoice:
    """A detector name or model file, a recording and detection channels, as the real
    CNF's detector: one to train on the recording (default the shipped one) and the run's
    warm-up, or a model file to use as it is; RunInputError naming a bad one."""
    from secmas.analytics.channels import check_channels
    from secmas.analytics.registry import detector_names
    from secmas.pipeline.cnf_emulated import DetectorChoice

    recorded: dict[str, Any] = {} if recording is None else {"recording": recording}
    if channels is not None:
        try:
            recorded["channels"] = check_channels([c.strip() for c in channels])
        except ValueError as exc:
            raise RunInputError(str(exc), option="channels") from None
    installed = detector_names()
    if value is None or value in installed:
        return DetectorChoice(model=value or DetectorChoice.model, **recorded)
    path = Path(value)
    if not path.is_file():
        raise RunInputError(
            f"{value}: neither an installed detector ({', '.join(installed)}) nor a file",
            option="detector",
        )
    return DetectorChoice(file=path, **recorded)
