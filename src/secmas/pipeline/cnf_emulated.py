"""The security closed loop of `002_…` on a real CNF under real attacks (emulated data plane).

The scenario's network becomes a real one (`network.emulation`); nginx is the CNF in the
server's namespace and its own cgroup, the scenario's clients load it, and the attacks of
`002_…` Section IV and `004_…` Section 6.2 run as real processes (`cnfattacks`). An
exporter serves the CNF's real counters, a Prometheus of the run's own (or the one
`prometheus` names) scrapes it, and the loop reads only Prometheus (`query_range`):

1. normal behaviour for `normal_seconds` → the detector: `model` (by default the robust
   z-score baseline of `detectors`, which measured 5–10× fewer false alarms here than the
   seed's LSTM autoencoder; `lstm-ae` trains that with the seed's settings: 20 %
   validation, 30 epochs, batch 50, MAE, 99th percentile) trained on it (and on the normal
   rows of a `recording`, when given), or the detector of the model
   file `detector` (`secmas detect fit`, e.g. on a recording of normal behaviour) — the
   normal phase then gives the mitigations' normal bounds and the re-baselining's data;
2. each attack in turn, held out, once the detector's windows are clean (when they do
   not get clean within `recovery_max`, the CNF has a new normal: the loop re-baselines):
   the MS reads the last window every step, the AE scores it, the DE picks a mitigation
   from what is out of line, the ES enforces it on the real CNF; the run measures when
   the mitigation is in effect on the real counters, lets the attack go on `settle`
   seconds more, stops it and lifts the guard;
3. the held-out part read back from Prometheus, the loop's live verdict on every window:
   window F1, false alarms per hour of normal time, for the run and for each attack's
   windows (`cnfloop.attack_segments`); per attack detection delay and time to mitigate.

`record` runs the same testbed without the loop: normal behaviour, or episodes of the
given attacks, as a labelled series (`secmas detect dataset --dataplane emulated`).
Whatever happens, everything the run started is stopped and removed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from secmas.analytics.autoencoder import Detector
from secmas.analytics.cnfloop import (
    Evaluation,
    Reaction,
    choose_mitigation,
    evaluate,
    evaluate_attacks,
    false_alarms_within,
    in_effect,
    normal_bounds,
    step_labels,
)
from secmas.analytics.cnftelemetry import CNFTelemetry, MetricFrame
from secmas.analytics.csvdata import CSVDataError, read_series
from secmas.analytics.datasets import LabelledSeries
from secmas.analytics.detectors import BASELINES, fit_baseline, load_detector
from secmas.analytics.events import NORMAL
from secmas.analytics.modelfile import ModelFileError
from secmas.analytics.prometheus import PrometheusClient
from secmas.analytics.promserver import PrometheusServer, prometheus_binary
from secmas.analytics.scoring import DetectorInputError, WindowDetector
from secmas.network.dataplane.cnf import METRICS as METRIC_NAMES
from secmas.network.emulation.cnfattacks import ATTACKS, AttackSettings, CNFAttacker, stress_ng
from secmas.network.emulation.cnfcgroup import CNFGroup
from secmas.network.emulation.cnfdefence import CNFDefence
from secmas.network.emulation.cnfexporter import CNFCollector, CNFExporter
from secmas.network.emulation.cnfnginx import NginxCNF, nginx_binary
from secmas.network.emulation.network import EmulatedNetwork, terminate_as_interrupt
from secmas.network.emulation.plan import emulation_plan
from secmas.network.emulation.workload import Workload
from secmas.pipeline.errors import RunError
from secmas.scenario.model import Scenario

Say = Callable[[str], None]
MIN_RECORDED = 10
"""Fewest normal rows a recording must hold to be trained on."""
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CNFRunSettings:
    """How one emulated CNF run goes (wall seconds)."""

    attacks: tuple[str, ...] = ATTACKS
    normal_seconds: float = 25.0
    interval: float = 0.5
    """Prometheus' scrape interval and the loop's step."""
    window: int = 6
    """Steps per detector window."""
    attack_max: float = 8.0
    settle: float = 1.0
    recovery_max: float = 6.0
    new_normal: int = 2
    """Flagged windows in a row, of steps after an attack only, that make a new normal (the
    loop re-baselines at once rather than after `recovery_max`); 0: wait it out."""
    confirm: int = 2
    """Consecutive flagged windows that make an alert."""
    scale: float = 0.2
    prometheus: str | None = None
    """Read this Prometheus (which must scrape the exporter) instead of starting one."""
    metrics_port: int = 0
    epochs: int = 30
    batch: int = 50
    seed: int = 0
    attack: AttackSettings = field(default_factory=AttackSettings)
    model: str = "zscore"
    """The detector trained on the normal phase (and re-baselined): a baseline or lstm-ae
    (zscore by default: the fewest false alarms measured, every attack still detected)."""
    detector: Path | None = None
    """A model file (`secmas detect fit`) to use instead of training on the normal phase;
    its window replaces `window`, re-baselining fits its kind on the run's normal data."""
    recording: Path | None = None
    """A recording of normal behaviour (`secmas detect dataset --dataplane emulated`) whose
    normal rows join the normal phase as training data, for the first training and every
    re-baselining."""

    def __post_init__(self) -> None:
        unknown = [a for a in self.attacks if a not in ATTACKS]
        if unknown:
            raise RunError(f"unknown attacks {', '.join(unknown)}; known: {', '.join(ATTACKS)}")
        if self.model not in ("lstm-ae", *BASELINES):
            raise RunError(
                f"unknown detector {self.model!r}; choose from lstm-ae, {', '.join(BASELINES)}"
            )
        if self.interval <= 0 or self.window < 2 or self.normal_seconds <= 0:
            raise RunError("interval and normal_seconds must be positive and window ≥ 2")


def check_tools() -> None:
    """EmulationUnavailable / PrometheusUnavailable naming a missing Debian package."""
    nginx_binary()
    stress_ng()


def _network_scenario(scenario: Scenario, scale: float) -> Scenario:
    """The scenario as the emulated engine builds it: its attackers become namespaces
    (the plan builds those for a flood's sources), at `scale` of its rates."""
    if not scenario.cnfs or scenario.traffic is None or scenario.attack is None:
        raise RunError(
            f"scenario {scenario.id!r}: an emulated CNF run needs a CNF, traffic and an "
            "attack section (its attackers' places)"
        )
    attack = scenario.attack.model_copy(update={"kind": "syn_flood", "spoof": None})
    network = scenario.network.model_copy(update={"engine": "emulated", "scale": scale})
    return scenario.model_copy(update={"attack": attack, "network": network})


class CNFTestbed:
    """Network, CNF, clients, exporter, Prometheus and attacker of one run; a context
    manager that takes all of it down however it is left."""

    def __init__(self, scenario: Scenario, folder: Path, settings: CNFRunSettings) -> None:
        self.settings = settings
        self.folder = folder.resolve()  # nginx reads paths relative to its own prefix
        self.network = EmulatedNetwork(emulation_plan(_network_scenario(scenario, settings.scale)))
        self.group: CNFGroup | None = None
        self.cnf: NginxCNF | None = None
        self.exporter: CNFExporter | None = None
        self.prometheus: PrometheusServer | None = None
        self.workload: Workload | None = None
        self.attacker: CNFAttacker | None = None
        self.defence: CNFDefence | None = None
        self.telemetry: CNFTelemetry | None = None
        self.started = 0.0

    def __enter__(self) -> CNFTestbed:
        check_tools()
        if self.settings.prometheus is None:
            prometheus_binary()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.network.start()
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        settings, network = self.settings, self.network
        self.group = CNFGroup.create(network.plan.prefix)
        assert network.plan.groups
        self.workload = Workload(network, self.folder, settings.interval * 2, settings.seed)
        ports = self.workload.ports
        self.cnf = NginxCNF(network, self.group, self.folder / "nginx", ports)
        self.cnf.start(self.workload.request_sizes() | {settings.attack.http_size})
        self.cnf.warm_up()
        self.exporter = CNFExporter.serve(CNFCollector(self.cnf, self.group), settings.metrics_port)
        if settings.prometheus is None:
            self.prometheus = PrometheusServer(
                self.folder / "prometheus", [self.exporter.target], settings.interval
            )
            client = self.prometheus.start()
        else:
            client = PrometheusClient(settings.prometheus)
        self.telemetry = CNFTelemetry(client, settings.interval)
        self.workload.start_clients()
        self.attacker = CNFAttacker(network, self.group, self.folder, ports[0], settings.attack)
        self.defence = CNFDefence(self.cnf, self.group)
        self.started = time.time()

    def __exit__(self, *_exc: object) -> None:
        steps = (
            lambda: self.attacker and self.attacker.stop(),
            lambda: self.defence and self.defence.lift(),
            lambda: self.workload and self.workload.stop(),
            lambda: self.prometheus and self.prometheus.stop(),
            lambda: self.exporter and self.exporter.close(),
            lambda: self.cnf and self.cnf.stop(),
            lambda: self.group and self.group.remove(),
            self.network.stop,
        )
        for step in steps:
            try:
                step()
            except Exception as exc:  # every later clean-up must still run
                logger.warning("emulated CNF clean-up: %s", exc)

    def describe(self) -> str:
        """Where the CNF, its exporter and Prometheus are."""
        assert self.group is not None and self.exporter is not None
        assert self.telemetry is not None
        return (
            f"CNF nginx in {self.network.plan.server} (cgroup {self.group.path}); exporter "
            f"{self.exporter.target}; Prometheus {self.telemetry.client.url}"
        )

    # -- reading -------------------------------------------------------------------------
    def now_step(self) -> float:
        """The latest step boundary (Unix s)."""
        interval = self.settings.interval
        return float(np.floor(time.time() / interval) * interval)

    def wait_step(self) -> float:
        """Sleep until the next step boundary has been scraped; that boundary."""
        interval = self.settings.interval
        target = self.now_step() + interval
        time.sleep(max(0.0, target + 0.25 * interval - time.time()))
        return target

    def read(self, start: float, end: float) -> MetricFrame:
        assert self.telemetry is not None
        return self.telemetry.read(start, end)

    def window(self, end: float) -> np.ndarray:
        """The last `window` steps up to `end`, [window, F]."""
        steps = self.settings.window
        frame = self.read(end - (steps - 1) * self.settings.interval, end)
        return frame.values[-steps:]


@dataclass
class CNFRunResult:
    """What an emulated CNF run measured."""

    reactions: list[Reaction]
    evaluation: Evaluation
    per_attack: list[Evaluation]
    """Each reaction's windows (`cnfloop.attack_segments`), in the same order."""
    training: dict[str, Any]
    episodes: list[dict[str, Any]]
    guard: dict[str, Any]
    requests: dict[str, Any]
    wall_seconds: float
    files: list[Path] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "reactions": [
                asdict(r)
                | {
                    "delay": r.delay,
                    "time_to_mitigate": r.time_to_mitigate,
                    "evaluation": asdict(e),
                }
                for r, e in zip(self.reactions, self.per_attack, strict=True)
            ],
            "evaluation": asdict(self.evaluation),
            "training": self.training,
            "episodes": self.episodes,
            "guard": self.guard,
            "requests": self.requests,
            "wall_seconds": self.wall_seconds,
        }


def pretrained(path: Path) -> WindowDetector:
    """The detector of a model file, checked to read the CNF's metrics (RunError naming the
    file and the problem otherwise)."""
    try:
        detector = load_detector(path)
    except (ModelFileError, OSError) as exc:
        raise RunError(f"--detector {path}: {exc}") from None
    try:
        detector.align(np.zeros((1, len(METRIC_NAMES))), METRIC_NAMES)
    except DetectorInputError as exc:
        raise RunError(f"--detector {path}: not a model of the CNF's metrics ({exc})") from None
    if detector.window < 2:
        raise RunError(f"--detector {path}: its window is {detector.window} step; needs ≥ 2")
    return detector


def recorded_normal(path: Path) -> np.ndarray:
    """The normal rows of a recording [N, F], in the loop's metric order (RunError naming
    the file and the problem)."""
    try:
        series = read_series(path)
    except (CSVDataError, OSError) as exc:
        raise RunError(f"--recording {path}: {exc}") from None
    missing = [name for name in METRIC_NAMES if name not in series.features]
    if missing:
        raise RunError(f"--recording {path}: no column {', '.join(missing)}")
    values = series.values[:, [series.features.index(name) for name in METRIC_NAMES]]
    truth = series.truth()
    normal = values if truth is None else values[truth == NORMAL]
    if len(normal) < MIN_RECORDED:
        raise RunError(f"--recording {path}: {len(normal)} normal rows; too few to train on")
    return normal


def _train(values: np.ndarray, settings: CNFRunSettings, model: str) -> WindowDetector:
    import torch

    torch.set_num_threads(1)
    if model != "lstm-ae":
        return fit_baseline(model, values, METRIC_NAMES, window=settings.window, seed=settings.seed)
    return Detector.fit(
        values,
        METRIC_NAMES,
        window=settings.window,
        epochs=settings.epochs,
        batch=settings.batch,
        validation=0.2,
        seed=settings.seed,
        percentile=99.0,
    )


class _Loop:
    """The live MS → AE → DE → ES loop over one testbed."""

    def __init__(
        self, bed: CNFTestbed, normal: np.ndarray, say: Say, detector: WindowDetector | None
    ):
        self.bed = bed
        self.say = say
        self.settings = bed.settings
        self.normal = normal
        self.kind = self.settings.model if detector is None else detector.name
        self.detector = detector or _train(normal, self.settings, self.kind)
        self.bounds = normal_bounds(normal, METRIC_NAMES)
        self.guard: dict[str, Any] = {"dropped": 0, "offenders": []}
        self.rebaselines: list[dict[str, Any]] = []
        self.verdicts: dict[float, bool] = {}
        """Window end (Unix s) → flagged, as the loop saw it live."""
        self._streak = 0

    def alert(self, end: float) -> tuple[bool, tuple[tuple[str, float], ...], np.ndarray]:
        """Whether `confirm` windows in a row up to `end` are flagged; the explanation and
        the last step's metrics."""
        flagged, severity, row = self.flag(end)
        self._streak = self._streak + 1 if flagged else 0
        return self._streak >= self.settings.confirm, severity, row

    def flag(self, end: float) -> tuple[bool, tuple[tuple[str, float], ...], np.ndarray]:
        """The detector's verdict on the window ending at `end`, its explanation and the
        last step's metrics."""
        rows = self.bed.window(end)
        _, per_feature, flags = self.detector.score_window(self.detector.align(rows, METRIC_NAMES))
        flagged = bool(flags["static"])
        self.verdicts[round(end, 3)] = flagged
        return flagged, self.detector.severity(per_feature), rows[-1]

    def replayed_flags(self, frame: MetricFrame) -> np.ndarray:
        """The loop's live verdict on each stride-1 window of `frame` (a window it never
        looked at counts as not flagged)."""
        ends = frame.times[self.settings.window - 1 :]
        return np.array([self.verdicts.get(round(float(t), 3), False) for t in ends], dtype=bool)

    def attack(self, kind: str) -> Reaction:
        bed, settings = self.bed, self.settings
        assert bed.attacker is not None and bed.defence is not None
        clean = not self.flag(bed.now_step())[0]
        self._streak = 0
        episode = bed.attacker.start(kind)
        self.say(f"{kind}: started" + ("" if clean else " (the last window was not clean)"))
        detected = effective = enforced = None
        mitigation = None
        while time.time() < episode.start + settings.attack_max:
            end = bed.wait_step()
            flagged, severity, row = self.alert(end)
            if mitigation == "guard" and effective is None:
                bed.defence.sweep()
            if flagged and mitigation is None:
                detected = detected or end
                mitigation = choose_mitigation(severity)
                if mitigation is not None:
                    enforced = time.time()
                    mitigation = self._enforce(mitigation)
                    top = ", ".join(f"{n} ×{r:.0f}" for n, r in severity[:3])
                    self.say(
                        f"{kind}: detected after {detected - episode.start:.1f} s ({top}); "
                        f"{mitigation} enforced"
                    )
            elif (
                mitigation is not None
                and effective is None
                and enforced is not None
                and end > enforced
                and in_effect(mitigation, row, METRIC_NAMES, self.bounds)
            ):
                effective = end
                self.say(f"{kind}: {mitigation} in effect {effective - detected:.1f} s later")
            if effective is not None and end >= effective + settings.settle:
                break
        stopped = bed.attacker.stop()
        assert stopped is not None and stopped.stop is not None
        if bed.defence.guarded:
            dropped, offenders = bed.defence.guard_state()
            self.guard["dropped"] += dropped
            self.guard["offenders"] = sorted(set(self.guard["offenders"]) | set(offenders))
            bed.defence.lift()
        return Reaction(kind, episode.start, stopped.stop, detected, mitigation, effective, clean)

    def _enforce(self, mitigation: str) -> str:
        """Enforce the DE's choice; the mitigation in force (isolation that finds no
        process foreign to nginx falls back to the guard)."""
        defence = self.bed.defence
        assert defence is not None
        if mitigation == "isolate":
            killed = defence.isolate()
            if killed:
                self.say(f"isolate: killed {len(killed)} process(es) in the CNF that are not nginx")
                return mitigation
            self.say("isolate: every process in the CNF is nginx's; the guard instead")
        swept = defence.guard()
        if swept:
            self.say(f"guard: {', '.join(swept)} held too many connections; dropped")
        return "guard"

    def recover(self) -> None:
        """Wait until a whole window is clean. The CNF has a new normal (nginx keeps or
        frees memory a flood made it touch, say) — re-baseline — when `new_normal`
        windows in a row that hold only steps after the wait began are flagged, or when
        `recovery_max` passes first."""
        settings = self.settings
        since = self.bed.now_step()
        clean = shifted = 0
        deadline = time.time() + settings.recovery_max
        while time.time() < deadline and clean < settings.window:
            end = self.bed.wait_step()
            flagged, _, _ = self.flag(end)
            clean = 0 if flagged else clean + 1
            after = end - (settings.window - 1) * settings.interval > since
            shifted = shifted + 1 if flagged and after else 0
            if settings.new_normal and shifted >= settings.new_normal:
                break
        self.detector.reset_live()
        if clean < settings.window:
            reason = "new normal" if shifted >= settings.new_normal > 0 else "no clean window"
            self._rebaseline(since, end, reason)

    def _rebaseline(self, since: float, end: float, reason: str) -> None:
        """Train again on the normal data and the wait's steps after `since` (at most two
        windows' worth; no attack runs, no mitigation is in force), same settings."""
        settings = self.settings
        first = max(since + settings.interval, end - (2 * settings.window - 1) * settings.interval)
        recent = self.bed.read(first, end).values
        self.normal = np.concatenate([self.normal, recent])
        began = time.perf_counter()
        self.detector = _train(self.normal, settings, self.kind)
        self.bounds = normal_bounds(self.normal, METRIC_NAMES)
        seconds = time.perf_counter() - began
        self.rebaselines.append(
            {
                "since": since,
                "at": end,
                "reason": reason,
                "samples": len(self.normal),
                "seconds": seconds,
                "threshold": self.detector.static.value,
            }
        )
        self.say(
            f"windows stayed flagged after the attack ({reason}): re-baselined on "
            f"{len(self.normal)} samples in {seconds:.1f} s "
            f"(threshold {self.detector.static.value:.4g})"
        )


def run_cnf_emulated(
    scenario: Scenario, folder: Path, settings: CNFRunSettings, say: Say = print
) -> CNFRunResult:
    """The closed loop on the real CNF (see the module docstring)."""
    began = time.perf_counter()
    detector = None if settings.detector is None else pretrained(settings.detector)
    prior = None if settings.recording is None else recorded_normal(settings.recording)
    if detector is not None:
        settings = replace(settings, window=detector.window)
    with terminate_as_interrupt(), CNFTestbed(scenario, folder, settings) as bed:
        say(bed.describe())
        normal_start = bed.now_step() + settings.window * settings.interval
        say(f"recording {settings.normal_seconds:g} s of normal behaviour")
        time.sleep(max(0.0, normal_start + settings.normal_seconds - time.time()))
        normal = bed.read(normal_start, normal_start + settings.normal_seconds)
        trained = time.perf_counter()
        data = normal.values if prior is None else np.concatenate([prior, normal.values])
        loop = _Loop(bed, data, say, detector)
        training = {
            "detector": loop.kind,
            "trained_on": _trained_on(settings, len(normal.values), prior),
            "samples": len(data),
            "seconds": time.perf_counter() - trained,
            "threshold": loop.detector.static.value,
            "window": settings.window,
            "epochs": settings.epochs,
            "batch": settings.batch,
        }
        say(
            f"{loop.kind} detector from {training['trained_on']} ({training['seconds']:.1f} "
            f"s); threshold {loop.detector.static.value:.4g}"
        )
        held_out = bed.now_step() + settings.interval
        reactions = []
        for kind in settings.attacks:
            loop.recover()
            reactions.append(loop.attack(kind))
        loop.recover()
        end = bed.now_step()
        frame = bed.read(held_out - (settings.window - 1) * settings.interval, end)
        assert bed.workload is not None and bed.attacker is not None
        requests = bed.workload.requests()
        episodes = [e.to_json() for e in bed.attacker.episodes]
    labels = step_labels(frame.times, [(r.kind, r.start, r.stop) for r in reactions])
    flags = loop.replayed_flags(frame)
    evaluation = evaluate(flags, labels, settings.interval, settings.window)
    stops = [r.stop for r in reactions]
    per_attack = evaluate_attacks(
        flags, labels, frame.times, stops, settings.interval, settings.window
    )
    for rebaseline in loop.rebaselines:  # what waiting for a clean window cost
        span = [(rebaseline["since"], rebaseline["at"])]
        waits = false_alarms_within(flags, labels, frame.times, settings.window, span)
        rebaseline["false_alarm_windows"] = waits
    training["rebaselines"] = loop.rebaselines
    result = CNFRunResult(
        reactions=reactions,
        evaluation=evaluation,
        per_attack=per_attack,
        training=training,
        episodes=episodes,
        guard=loop.guard,
        requests=_request_summary(requests, reactions),
        wall_seconds=time.perf_counter() - began,
    )
    result.files = _write(folder, result, frame, labels)
    return result


def _trained_on(settings: CNFRunSettings, live: int, prior: np.ndarray | None) -> str:
    """What the loop's first detector learnt from, in words."""
    phase = f"the run's {settings.normal_seconds:g} s normal phase ({live} samples)"
    if prior is not None:
        phase = f"{settings.recording} ({len(prior)} normal samples) and {phase}"
    if settings.detector is not None:
        return f"model file {settings.detector} (re-baselining on {phase})"
    return phase


def _request_summary(requests: Sequence[Any], reactions: Sequence[Reaction]) -> dict[str, Any]:
    """Legitimate requests (as the clients saw them) inside and outside the attacks."""
    during = [r for r in requests if any(x.start <= r.t < x.stop for x in reactions)]
    outside = [r for r in requests if r not in during]

    def share(chosen: Sequence[Any]) -> float | None:
        return sum(r.ok for r in chosen) / len(chosen) if chosen else None

    return {
        "during_attacks": {"requests": len(during), "success": share(during)},
        "outside_attacks": {"requests": len(outside), "success": share(outside)},
    }


def _write(
    folder: Path, result: CNFRunResult, frame: MetricFrame, labels: np.ndarray
) -> list[Path]:
    report = folder / "cnf-report.json"
    report.write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")
    metrics = folder / "cnf-metrics.csv"
    write_recording(metrics, LabelledSeries(frame.features, frame.values, labels, 0.0), frame.times)
    return [report, metrics]


def write_recording(
    path: Path, series: LabelledSeries, times: np.ndarray, labels: bool = True
) -> None:
    """A recording as CSV: `timestamp` (seconds from its start), the metrics, and with
    `labels` the ground truth's `label` (the columns of `detect dataset`)."""
    import csv

    origin = float(times[0]) if len(times) else 0.0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("timestamp", *series.features, *(("label",) if labels else ())))
        for t, row, label in zip(times, series.values, series.labels, strict=True):
            extra = (label,) if labels else ()
            writer.writerow((f"{t - origin:.3f}", *(f"{v:.6g}" for v in row), *extra))


def record(
    scenario: Scenario,
    folder: Path,
    seconds: float,
    conditions: Sequence[str],
    settings: CNFRunSettings,
    say: Say = print,
) -> tuple[LabelledSeries, np.ndarray]:
    """Record the real CNF: `seconds` of normal behaviour, or (with `conditions`) each
    attack for `seconds` between stretches of normal behaviour as long; no mitigation.
    The series (labels from the attacks' ground truth) and its Unix times."""
    with terminate_as_interrupt(), CNFTestbed(scenario, folder, settings) as bed:
        assert bed.attacker is not None
        start = bed.now_step() + 4 * settings.interval
        time.sleep(max(0.0, start - time.time()))
        say(f"recording normal behaviour for {seconds:g} s")
        time.sleep(seconds)
        for kind in conditions:
            bed.attacker.start(kind)
            say(f"{kind} for {seconds:g} s")
            time.sleep(seconds)
            bed.attacker.stop()
            say(f"normal behaviour for {seconds:g} s")
            time.sleep(seconds)
        frame = bed.read(start, bed.now_step())
        truth = [(e.kind, e.start, e.stop or time.time()) for e in bed.attacker.episodes]
    labels = step_labels(frame.times, truth)
    return LabelledSeries(frame.features, frame.values, labels, settings.interval), frame.times
