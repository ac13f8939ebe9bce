"""The real CNF of `002_…` on the emulated engine: its testbed and its detector.

The scenario's network becomes a real one (`network.emulation`); nginx is the CNF in the
server's namespace and its own cgroup, the scenario's clients load it, and the attacks of
`002_…` Section IV and `004_…` Section 6.2 run as real processes (`cnfattacks`). An
exporter serves the CNF's real counters and a Prometheus of the run's own (or the one
`prometheus` names) scrapes them. `record` runs this testbed: normal behaviour, or
episodes of the given attacks, as a labelled series read back from Prometheus
(`secmas detect dataset --dataplane emulated`). Whatever happens, everything it started
is stopped and removed.

The agents' closed loop on a real CNF (`secmas.pipeline.realcnf`) learns the CNF's
normal behaviour with the detector `DetectorChoice` names: by default the robust z-score
baseline of `detectors`, which measured 5–10× fewer false alarms here than the seed's
LSTM autoencoder (`lstm-ae` trains that with the seed's settings: 20 % validation, 30
epochs, batch 50, MAE, 99th percentile), trained on the normal rows of a `recording` (by
default the normal recording the package ships), moved to the levels of the run's
warm-up (`at_levels_of`: the recording gives the spread, this instance the levels), and
the warm-up itself; or the detector
of a model file (`secmas detect fit`, e.g. on a recording of normal behaviour).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from secmas.analytics.channels import DEFAULT_CHANNELS, check_channels
from secmas.analytics.cnfloop import step_labels
from secmas.analytics.cnftelemetry import CNFTelemetry, MetricFrame
from secmas.analytics.csvdata import CSVDataError, read_recording, shipped_normal_recording
from secmas.analytics.datasets import LabelledSeries
from secmas.analytics.decision import TRAFFIC_FEATURES
from secmas.analytics.events import NORMAL
from secmas.analytics.freshness import start_fill
from secmas.analytics.modelfile import ModelFileError
from secmas.analytics.prometheus import PrometheusClient
from secmas.analytics.promserver import PrometheusServer, prometheus_binary
from secmas.analytics.registry import detector_names, fit_detector, load_detector
from secmas.analytics.scoring import DetectorInputError, Fitting, LSTMSettings, WindowDetector
from secmas.interrupt import terminate_as_interrupt
from secmas.network.dataplane.cnf import METRICS as METRIC_NAMES
from secmas.network.emulation.cnfattacks import AttackSettings, CNFAttacker, stress_ng
from secmas.network.emulation.cnfcgroup import CNFGroup
from secmas.network.emulation.cnfdefence import CNFDefence
from secmas.network.emulation.cnfexporter import CNFCollector, CNFExporter
from secmas.network.emulation.cnfnginx import NginxCNF, nginx_binary
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import emulation_plan
from secmas.network.emulation.trafficprofile import TrafficProfile
from secmas.network.emulation.workload import Workload
from secmas.pipeline.errors import RunError
from secmas.scenario.model import Scenario

Say = Callable[[str], None]
MIN_RECORDED = 10
"""Fewest normal rows a recording must hold to be trained on."""
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CNFRunSettings:
    """How the testbed runs (wall seconds)."""

    interval: float = 0.5
    """Prometheus' scrape interval and the recording's step."""
    scale: float = 0.2
    prometheus: str | None = None
    """Read this Prometheus (which must scrape the exporter) instead of starting one."""
    metrics_port: int = 0
    seed: int = 0
    attack: AttackSettings = field(default_factory=AttackSettings)
    traffic: TrafficProfile | None = None
    """How the clients' traffic varies (None: steady clients at their mean rates)."""
    restart_after: float | None = None
    """Seconds into the first normal phase at which nginx restarts (None: never)."""

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.scale <= 0:
            raise RunError("interval and scale must be positive")
        if self.restart_after is not None and self.restart_after <= 0:
            raise RunError("restart_after must be positive")


@dataclass(frozen=True)
class DetectorChoice:
    """The real CNF's detector: `model` (an installed detector) trained on the normal
    rows of `recording` (by default the package's normal recording)
    and the run's warm-up, or the model file `file` as it is (its window replaces
    `window`)."""

    model: str = "zscore"
    file: Path | None = None
    recording: Path | None = field(default_factory=shipped_normal_recording)
    window: int = 4
    """Steps per detector window."""
    epochs: int = 30
    batch: int = 50
    seed: int = 0
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    """The loop's detection channels (`analytics.channels`): each its own alert."""

    def __post_init__(self) -> None:
        try:
            check_channels(self.channels)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        installed = detector_names()
        if self.model not in installed:
            raise RunError(
                f"unknown detector {self.model!r}; choose from {', '.join(installed)} (the "
                "installed detectors)"
            )
        if self.window < 2:
            raise RunError(f"a detector window of {self.window} step; needs ≥ 2")

    @property
    def name(self) -> str:
        """What the choice trains or loads, in words."""
        return f"model file {self.file}" if self.file is not None else self.model


def check_tools() -> None:
    """EmulationUnavailable / PrometheusUnavailable naming a missing Debian package."""
    nginx_binary()
    stress_ng()


def _network_scenario(scenario: Scenario, scale: float) -> Scenario:
    """The scenario as the emulated engine builds it: its attackers become namespaces
    (with their own addresses: the testbed's attacks are its own), at `scale` of its
    rates."""
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
        self.workload = Workload(
            network, self.folder, settings.interval * 2, settings.seed, profile=settings.traffic
        )
        ports = self.workload.ports
        self.cnf = NginxCNF(network, self.group, self.folder / "nginx", ports)
        self.cnf.start(self.sizes)
        self.cnf.warm_up()
        collector = CNFCollector([self.cnf], self.group)
        self.exporter = CNFExporter.serve(collector, settings.metrics_port)
        if settings.prometheus is None:
            self.prometheus = PrometheusServer(
                self.folder / "prometheus", [self.exporter.target], settings.interval
            )
            client = self.prometheus.start()
        else:
            client = PrometheusClient(settings.prometheus)
        self.telemetry = CNFTelemetry(client, settings.interval)
        self.workload.start_clients(self.cnf.layout.docroot / "bytes")
        self.attacker = CNFAttacker(network, self.group, self.folder, ports[0], settings.attack)
        self.defence = CNFDefence([self.cnf], self.group)

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

    @property
    def sizes(self) -> set[int]:
        """Every size a client or an attack fetches."""
        assert self.workload is not None
        return self.workload.request_sizes() | {self.settings.attack.http_size}

    def restart(self) -> None:
        """Restart nginx (stop, then start afresh), as an operator's restart does: its
        counters start from zero and its memory is touched anew."""
        assert self.cnf is not None
        self.cnf.stop()
        self.cnf.start(self.sizes)

    # -- reading -------------------------------------------------------------------------
    def now_step(self) -> float:
        """The latest step boundary (Unix s)."""
        interval = self.settings.interval
        return float(np.floor(time.time() / interval) * interval)

    def read(self, start: float, end: float) -> MetricFrame:
        assert self.telemetry is not None
        return self.telemetry.read(start, end)


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
        series = read_recording(path)
        values = series.columns(METRIC_NAMES)
    except (CSVDataError, OSError) as exc:
        raise RunError(f"--recording {path}: {exc}") from None
    truth = series.truth()
    normal = values if truth is None else values[truth == NORMAL]
    if len(normal) < MIN_RECORDED:
        raise RunError(f"--recording {path}: {len(normal)} normal rows; too few to train on")
    return normal


@dataclass(frozen=True)
class PreparedDetector:
    """A `DetectorChoice` with its files read (before the run): the model file's detector
    and the recording's normal rows, where it names them."""

    choice: DetectorChoice
    loaded: WindowDetector | None
    prior: np.ndarray | None

    @classmethod
    def read(cls, choice: DetectorChoice) -> PreparedDetector:
        """Read the choice's files (RunError naming a bad one)."""
        loaded = None if choice.file is None else pretrained(choice.file)
        recording = None if choice.file is not None else choice.recording  # a file: as it is
        prior = None if recording is None else recorded_normal(recording)
        return cls(choice, loaded, prior)

    @property
    def window(self) -> int:
        return self.choice.window if self.loaded is None else self.loaded.window

    def fit(self, normal: np.ndarray) -> WindowDetector:
        """The detector: the model file's, or the choice's model trained on the
        recording's normal rows and `normal` [N, F] (in METRIC_NAMES order)."""
        if self.loaded is not None:
            return self.loaded
        data = self.training(normal)
        if len(data) <= self.window:
            raise RunError(
                f"{len(data)} steps of normal behaviour to train the real CNF's detector on; "
                f"it needs more than its window ({self.window}): give a normal recording"
            )
        return train(data, self.choice)

    def training(self, normal: np.ndarray) -> np.ndarray:
        """What the choice's model learns: the recording's normal rows at the levels of
        `normal` (`at_levels_of`), then `normal`."""
        if self.prior is None:
            return normal
        return np.concatenate([at_levels_of(self.prior, normal), normal])

    def relearning(self, warm_up: np.ndarray, since: np.ndarray) -> np.ndarray:
        """What the choice's model learns when the remedies moved the CNF to a new normal:
        the recording at the levels of the steps `since` them, then those steps (as
        `training` placed it at the warm-up's); without a recording, the warm-up and the
        steps since. A dozen steps tell where the CNF sits now, not how much it varies: fitted
        on them and the warm-up alone, the z-score took its limit from as few windows and
        flagged the next normal swing (a false alert in one demo run of three)."""
        if self.prior is None:
            return np.concatenate([warm_up, since])
        return self.training(since)


def at_levels_of(recorded: np.ndarray, own: np.ndarray) -> np.ndarray:
    """The recording [N, F] moved, per metric, from its median to the median of `own` [M, F]
    (this instance's warm-up; as it is when `own` is empty): the recording knows how the CNF
    varies, the warm-up where this instance sits. Another nginx instance under other
    client rates holds other memory and CPU levels with the same spread; a detector learnt
    at the recording's levels flags the live instance's first normal steps (the shift
    between instances, here on the live loop). What the clients send (`TRAFFIC_FEATURES`)
    grows with their rates, and its spread with it: those metrics are scaled by the ratio of
    the medians instead, so a flood on an instance with half the recording's clients is not
    lost in the recording's wider swing. Medians, so a few odd warm-up steps move nothing."""
    if len(own) == 0:
        return recorded
    theirs, mine = np.median(recorded, axis=0), np.median(own, axis=0)
    moved = recorded - theirs + mine
    for i, name in enumerate(METRIC_NAMES):
        if name in TRAFFIC_FEATURES and theirs[i] > 0:
            moved[:, i] = recorded[:, i] * (mine[i] / theirs[i])
    return moved


def train(values: np.ndarray, choice: DetectorChoice) -> WindowDetector:
    """`choice.model` trained on normal rows [N, F] (METRIC_NAMES order): a network with
    the seed's settings (20 % validation, 99th percentile) and the choice's epochs and
    batch."""
    import torch

    torch.set_num_threads(1)
    lstm = LSTMSettings(epochs=choice.epochs, batch=choice.batch)
    fitting = Fitting(window=choice.window, seed=choice.seed, lstm=lstm)
    return fit_detector(choice.model, values, METRIC_NAMES, fitting)


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
    *,
    lead: float | None = None,
) -> tuple[LabelledSeries, np.ndarray]:
    """Record the real CNF: `seconds` of normal behaviour (`lead`, when given), then (with
    `conditions`) each attack for `seconds` followed by as long of normal behaviour; no
    mitigation. The series (labels from the attacks' ground truth) and its Unix times,
    without the rows no scrape measured (stale: a failed scrape; the fill before the
    first scrapes)."""
    with terminate_as_interrupt(), CNFTestbed(scenario, folder, settings) as bed:
        assert bed.attacker is not None
        start = bed.now_step() + 4 * settings.interval
        time.sleep(max(0.0, start - time.time()))
        opening = seconds if lead is None else lead
        say(f"recording normal behaviour for {opening:g} s")
        restart = settings.restart_after
        if restart is not None and restart < opening:
            time.sleep(restart)
            say(f"restarting nginx ({restart:g} s in)")
            bed.restart()
            time.sleep(max(0.0, start + opening - time.time()))
        else:
            time.sleep(opening)
        for kind in conditions:
            bed.attacker.start(kind)
            say(f"{kind} for {seconds:g} s")
            time.sleep(seconds)
            bed.attacker.stop()
            say(f"normal behaviour for {seconds:g} s")
            time.sleep(seconds)
        frame = bed.read(start, bed.now_step())
        truth = [(e.kind, e.start, e.stop or time.time()) for e in bed.attacker.episodes]
    measured = frame.fresh()  # a failed scrape is no measurement
    if len(measured.times) < len(frame.times):
        say(f"left out {len(frame.times) - len(measured.times)} stale rows (no newer scrape)")
    first = start_fill(measured.values)  # not yet measured: Prometheus' first scrapes
    times, values = measured.times[first:], measured.values[first:]
    labels = step_labels(times, truth)
    return LabelledSeries(frame.features, values, labels, settings.interval), times
