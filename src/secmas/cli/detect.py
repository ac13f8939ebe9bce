"""`secmas detect fit`, `score`, `train` and `dataset`: anomaly detection on CNF metrics
with the LSTM autoencoder of `002_…` (Section IV) or a baseline.

`fit` trains a detector (`--model NAME|auto`: any installed detector plug-in, see
`secmas.analytics.registry`, or auto, see `secmas.analytics.selection`; by default auto,
which keeps the robust z-score unless normal data shows it would fail, and is at least as
good as it on every series of benchmarks/results/detectors.md) on a CSV of normal behaviour
(one column per metric) and writes the model file, which records the detector; it refuses
columns that look like ground truth (named like a label, or all 0/1) unless `--columns`
names the columns to train on, and columns that hold one value in every row. `score`
loads any model file, reads a CSV of the same metrics, flags the anomalous windows, prints
the strongest alerts with the metrics that deviated most and can write one row per window;
a ground-truth column (`label`, as `detect dataset --labels` writes) is set aside and the
flags are scored against it. Both refuse a CSV whose rows go back in time unless
`--timestamps sort` (rows put in time order) or `--timestamps drop-duplicates` (also one
row of each time: an hour a local clock repeats is read once) says otherwise, and then
tell how many rows were moved and dropped (`secmas.analytics.csvdata`).
`train` trains the detector of a scenario's CNF from the telemetry of its agents (one per
PoP): on their pooled data, or with `--federated` by FedAvg in which every exchange is a
secure sum (`secmas.secagg`; with `--processes` every agent its own OS process over a
nats-server and their secure channel), printing the global model's F1 after each round,
and compares the two models' F1 on held-out attack runs.

Exit codes as for every `secmas` command: 0 success, 2 bad input (unreadable CSV or model,
columns that do not match the model, too few rows, unwritable output), with a one-line
message naming the file and never a traceback. torch loads only when a command runs, and
after every refusal that needs no detector.
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from secmas.analytics.options import DEFAULT_DETECTOR, TIME_ORDERS, TimeOrder
from secmas.cli.arguments import (
    SEED_RANGE,
    ForceFileOption,
    JsonOption,
    QuietOption,
    check_new_files,
    check_readable,
    clip,
    parse_seed,
)
from secmas.cli.grammar import Typer
from secmas.cli.output import (
    FAILED_RUN,
    console,
    detail,
    errors,
    fail,
    json_mode,
    print_json,
    say,
    set_quiet,
)

if TYPE_CHECKING:
    import numpy as np
    from rich.table import Table

    from secmas.analytics.autoencoder import Detector
    from secmas.analytics.csvdata import CSVSeries
    from secmas.analytics.scoring import Scores, WindowDetector
    from secmas.analytics.selection import Selection
    from secmas.secagg.federated import AgentTelemetry, FederatedPlan
    from secmas.secagg.neighbours import ThreatModel


detect_app = Typer(
    help="Anomaly detection on CNF metrics (CSV): the LSTM autoencoder or a baseline.",
    no_args_is_help=True,
)


AUTO = "auto"
"""`--model auto`: choose among the installed detectors (`secmas.analytics.selection`)."""


def parse_model(given: str) -> str:
    """`--model` as given: an installed detector (read from the registry when the command
    runs, so one installed since is taken) or auto; refused naming the installed ones."""
    from secmas.analytics.registry import detector_names

    installed = detector_names()
    if given != AUTO and given not in installed:
        raise typer.BadParameter(
            f"no detector {clip(given, 40)!r} is installed (installed: "
            f"{', '.join(installed) or 'none'}; or {AUTO})"
        )
    return given


def _model_metavar() -> str:
    """The `--model` choices: the detectors installed when the command line is built."""
    from secmas.analytics.registry import detector_names

    return "[" + "|".join((*detector_names(), AUTO)) + "]"


class ThresholdChoice(StrEnum):
    """Which threshold flags a window."""

    static = "static"
    adaptive = "adaptive"


def parse_time_order(given: str) -> TimeOrder:
    """`--timestamps` as given: one of `TIME_ORDERS`, else refused naming them."""
    for order in TIME_ORDERS:
        if given == order:
            return order
    raise typer.BadParameter(f"{clip(given, 40)!r} is none of {', '.join(TIME_ORDERS)}")


TimestampsOption = Annotated[
    TimeOrder,
    typer.Option(
        "--timestamps",
        parser=parse_time_order,
        metavar="[" + "|".join(TIME_ORDERS) + "]",
        help="rows earlier than the row before: refuse them (the default), sort the rows "
        "by time, or sort them and drop-duplicates (one row of each time, e.g. of an hour a "
        "local clock repeats)",
    ),
]


def _read(path: Path, timestamps: TimeOrder) -> tuple[CSVSeries, dict[str, object] | None]:
    """The CSV's series, with its rows ordered as `--timestamps` says (said on stderr), and
    what ordering did, for --json (None: nothing was asked)."""
    from secmas.analytics.csvdata import CSVDataError, read_series_in_order

    try:
        series, reordering = read_series_in_order(path, timestamps)
    except CSVDataError as exc:
        raise fail(str(exc)) from None
    if reordering is None:
        return series, None
    errors.print(f"{path}: {reordering.sentence}", soft_wrap=True)
    return series, reordering.to_json()


CsvOption = Annotated[
    Path, typer.Option("--csv", metavar="FILE", help="CSV file: a header, one column a metric")
]
ScenarioArgument = Annotated[Path, typer.Argument(metavar="SCENARIO", help="scenario YAML file")]
ReportOption = Annotated[
    Path | None,
    typer.Option(
        "--report", metavar="FILE", help="JSON file: the detector and, for auto, every candidate"
    ),
]


def _out_option(what: str) -> Any:
    """`-o/--out FILE`, required: the file the command writes."""
    return typer.Option("--out", "-o", metavar="FILE", help=what)


@detect_app.command("fit")
def fit(
    csv: CsvOption,
    out: Annotated[Path, _out_option("model file to write")],
    model: Annotated[
        str,
        typer.Option(
            parser=parse_model,
            metavar=_model_metavar(),
            help="auto (the default: the first in the benchmark's order, zscore first, that "
            "keeps its false alarms on held-out normal rows within 3 % and sees anomalies "
            "injected there; at least as good as zscore on every series of benchmarks/results/"
            "detectors.md), or an installed detector: zscore, lstm-ae (002_…'s), another "
            "baseline or a plug-in's",
        ),
    ] = DEFAULT_DETECTOR,
    columns: Annotated[
        str | None,
        typer.Option(
            metavar="NAMES",
            help="comma-separated metric columns to train on (default: all; needed to train "
            "on a column that looks like a label)",
        ),
    ] = None,
    candidates: Annotated[
        str | None,
        typer.Option(
            metavar="NAMES",
            help="with --model auto: comma-separated detectors to try (default: all installed)",
        ),
    ] = None,
    window: Annotated[int, typer.Option(min=1, metavar="N", help="time steps per window")] = 10,
    epochs: Annotated[int, typer.Option(min=1, metavar="N", help="lstm-ae: training epochs")] = 30,
    batch: Annotated[int, typer.Option(min=1, metavar="N", help="lstm-ae: windows per batch")] = 50,
    hidden: Annotated[
        int, typer.Option(min=1, metavar="N", help="lstm-ae: LSTM hidden units")
    ] = 32,
    latent: Annotated[
        int, typer.Option(min=1, metavar="N", help="lstm-ae: size of the bottleneck")
    ] = 16,
    percentile: Annotated[
        float,
        typer.Option(min=50.0, max=100.0, metavar="X", help="static threshold: this percentile"),
    ] = 99.0,
    seed: Annotated[
        int,
        typer.Option(
            parser=parse_seed,
            metavar="N",
            help=f"seed of initialisation and shuffling ({SEED_RANGE})",
        ),
    ] = 0,
    report: ReportOption = None,
    timestamps: TimestampsOption = "refuse",
    force: ForceFileOption = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train a detector on a CSV of normal behaviour and write the model file.

    Every refusal that needs no detector comes before torch and scikit-learn are imported,
    which takes seconds.

    Example: secmas detect fit --csv normal.csv -o model.pt --model auto"""
    set_quiet(quiet)
    check_new_files(force, ("--out", out), ("--report", report))
    with json_mode(as_json):
        _fit(csv, out, model, columns, candidates, window, percentile, seed, report, as_json,
             {"epochs": epochs, "batch": batch, "hidden": hidden, "latent": latent},
             timestamps)  # fmt: skip


def _fit(
    csv: Path,
    out: Path,
    model: str,
    columns: str | None,
    candidates: str | None,
    window: int,
    percentile: float,
    seed: int,
    report: Path | None,
    as_json: bool,
    sizes: dict[str, int],
    timestamps: TimeOrder,
) -> None:
    from secmas.analytics.csvdata import CSVDataError, check_rows

    tried = _candidates(candidates) if model == AUTO else ()
    series, ordered = _read(csv, timestamps)
    values, features = _training_columns(csv, series, columns)
    _refuse_constant(csv, values, features, named=columns is not None)
    rows = values.shape[0]
    try:
        check_rows(csv, rows, window)
    except CSVDataError as exc:
        raise fail(str(exc)) from None
    from secmas.analytics.registry import fit_detector
    from secmas.analytics.scoring import Fitting, LSTMSettings
    from secmas.analytics.selection import choose_detector

    say(f"{csv}: {rows} rows of {len(features)} metrics ({', '.join(features)})")
    epochs = sizes["epochs"]

    def progress(epoch: int, train: float, validation: float | None) -> None:
        held = "" if validation is None else f"  validation MAE {validation:.4f}"
        detail(f"epoch {epoch:>3}/{epochs}  train MAE {train:.4f}{held}")

    fitting = Fitting(window, percentile, seed, None, LSTMSettings(**sizes), say, progress)
    selection = None
    started = time.perf_counter()
    try:
        if model == AUTO:
            detector, selection = choose_detector(
                values, features, candidates=tried, fitting=fitting
            )
        else:
            detector = fit_detector(model, values, features, fitting)
    except ValueError as exc:
        raise fail(f"{csv}: {exc}") from None
    elapsed = time.perf_counter() - started
    if selection is not None:
        console.print(_selection_table(selection))
        say(f"auto chose {selection.reason}")
    say(
        f"{detector.name}: threshold {detector.static.value:.4g} (the {percentile:g}th "
        f"percentile of the scores of {rows - window + 1} normal windows)"
    )
    say(f"prepared in {elapsed:.1f} s")
    _save(detector, out)
    described = {**detector.describe(), "selection": selection and selection.to_json()}
    if report is not None:
        _write_json(report, described)
    if as_json:
        print_json(
            {
                "csv": csv,
                "model": out,
                "rows": rows,
                "features": list(features),
                "threshold": detector.static.value,
                "percentile": percentile,
                "seconds": elapsed,
                "detector": described,
                "report": report,
                "timestamps": ordered,
            }
        )


def _training_columns(
    csv: Path, series: CSVSeries, columns: str | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The values and names of the columns to train on: the ones `--columns` names, or
    all metric columns when none looks like ground truth (else exit 2)."""
    import numpy as np

    from secmas.analytics.csvdata import CSVDataError, label_like_columns

    if columns is None:
        suspects = list(series.labels) + label_like_columns(series)
        if suspects:
            named = ", ".join(repr(c) for c in suspects)
            metrics = ",".join(c for c in series.features if c not in suspects) or "…"
            raise fail(
                f"{csv}: column(s) {named} look like ground truth (named like a label, or "
                "holding only 0 and 1), not metrics: training on them would teach the "
                f"detector the answer. Train on the metrics alone (--columns {metrics}) or "
                "name them in --columns to train on them anyway"
            )
        return series.values, series.features
    wanted = [c.strip() for c in columns.split(",") if c.strip()]
    known = set(series.features) | set(series.labels)
    unknown = [c for c in wanted if c not in known]
    if not wanted or unknown:
        raise fail(
            f"--columns: {', '.join(repr(c) for c in unknown) or 'no columns'} not in {csv} "
            f"(its columns: {', '.join(sorted(known))})"
        )
    if len(set(wanted)) != len(wanted):
        raise fail("--columns: a column is named twice")
    parts = []
    for name in wanted:
        if name in series.labels:
            try:
                parts.append(series.label_column(name))
            except CSVDataError as exc:
                raise fail(f"{csv}: {exc}") from None
        else:
            parts.append(series.values[:, series.features.index(name)])
    return np.stack(parts, axis=1), tuple(wanted)


def _refuse_constant(
    csv: Path, values: np.ndarray, features: tuple[str, ...], *, named: bool
) -> None:
    """Exit 2 naming the columns to train on that hold one value in every row: they teach
    the detector nothing, and alone they give it a threshold of 0, so that it flags every
    window afterwards. `named`: the columns came from --columns (else all of the CSV's)."""
    from secmas.analytics.csvdata import constant_columns

    constant = constant_columns(values, features)
    if not constant:
        return
    rows = values.shape[0]
    what = ", ".join(
        f"{name!r} is constant ({value:g} in all {rows} rows)" for name, value in constant
    )
    it = "it" if len(constant) == 1 else "them"
    if named:
        raise fail(f"--columns: {what}: nothing to learn from {it}; leave {it} out")
    left = ",".join(c for c in features if c not in dict(constant)) or "…"
    raise fail(
        f"{csv}: column {what}: nothing to learn from {it}; leave {it} out (--columns {left})"
    )


def _candidates(text: str | None) -> tuple[str, ...]:
    """The detectors `--model auto` tries, checked against the installed ones so that a
    typo is refused before torch is imported."""
    from secmas.analytics.registry import detector_names

    detectors = detector_names()
    if text is None:
        return detectors
    wanted = tuple(c.strip() for c in text.split(",") if c.strip())
    unknown = [c for c in wanted if c not in detectors]
    if unknown or not wanted:
        raise fail(
            f"--candidates: unknown {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(detectors)} (the installed detectors)"
        )
    return wanted


def _selection_table(selection: Selection) -> Table:
    from rich.table import Table

    table = Table(title="auto: candidates in the benchmark's order on held-out normal data")
    columns = ("detector", "false alarms", "window F1", "event recall", "ROC-AUC", "s")
    for column in columns:
        table.add_column(column, justify="left" if column == "detector" else "right")
    for c in selection.candidates:
        if c.error is not None:
            table.add_row(c.name, f"not fitted: {c.error}", "", "", "", "")
            continue
        auc = "–" if c.roc_auc is None else f"{c.roc_auc:.3f}"
        chosen = " ✓" if c.name == selection.chosen else ""
        table.add_row(
            c.name + chosen,
            f"{c.false_alarm_windows} of {c.normal_windows}",
            f"{c.f1:.3f}",
            f"{c.event_recall:.0%}",
            auc,
            f"{c.seconds:.1f}",
        )
    return table


@detect_app.command("score")
def score(
    csv: CsvOption,
    model: Annotated[
        Path, typer.Option("--model", metavar="FILE", help="model file written by `detect fit`")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="FILE", help="CSV of per-window scores to write"),
    ] = None,
    threshold: Annotated[
        ThresholdChoice,
        typer.Option(
            metavar="[static|adaptive]", help="static (the paper's) or adaptive (follows drift)"
        ),
    ] = ThresholdChoice.static,
    top: Annotated[int, typer.Option(min=0, metavar="N", help="how many alerts to list")] = 10,
    timestamps: TimestampsOption = "refuse",
    force: ForceFileOption = False,
    as_json: JsonOption = False,
) -> None:
    """Score a CSV of metrics with a fitted detector (any `detect fit` wrote): flagged
    windows and their causes, and with a ground-truth column, how they match it.

    Example: secmas detect score --csv test.csv --model model.pt -o scores.csv"""
    check_new_files(force, ("--out", out))
    with json_mode(as_json):
        _score(csv, model, out, threshold, top, as_json, timestamps)


def _score(
    csv: Path,
    model: Path,
    out: Path | None,
    threshold: ThresholdChoice,
    top: int,
    as_json: bool,
    timestamps: TimeOrder,
) -> None:
    from secmas.analytics.csvdata import CSVDataError, check_rows, write_scores
    from secmas.analytics.modelfile import ModelFileError
    from secmas.analytics.registry import load_detector
    from secmas.analytics.scoring import DetectorInputError

    try:
        detector = load_detector(model)
    except ModelFileError as exc:
        raise fail(str(exc)) from None
    series, ordered = _read(csv, timestamps)
    try:
        check_rows(csv, series.values.shape[0], detector.window)
        scores = detector.score(series.values, columns=series.features, threshold=threshold.value)
    except CSVDataError as exc:
        raise fail(str(exc)) from None
    except DetectorInputError as exc:
        raise fail(f"{csv}: {exc} (model {model})") from None
    flagged = len(scores.flagged)
    share = flagged / len(scores)
    alerts = _alerts(scores, series.timestamps, top)
    truth = series.truth()
    matched = None
    if truth is not None:
        matched = _against_truth(scores, truth, detector.window, next(iter(series.labels)))
    if out is not None:
        try:
            write_scores(out, scores, series.timestamps)
        except OSError as exc:
            raise fail(f"cannot write {out}: {exc.strerror or exc}") from None
    if as_json:
        print_json(
            {
                "csv": csv,
                "model": model,
                "detector": detector.name,
                "threshold": threshold.value,
                "windows": len(scores),
                "flagged": flagged,
                "alerts": alerts,
                "truth": matched,
                "written": out,
                "timestamps": ordered,
            }
        )
        return
    say(
        f"{detector.name}: {len(scores)} windows, {flagged} flagged ({share:.1%}) under the "
        f"{threshold.value} threshold"
    )
    if alerts:
        console.print(_alerts_table(alerts, series.timestamps is not None))
    if matched is not None:
        say(
            f"against column {matched['column']!r}: {matched['detected']}/{matched['events']} "
            f"events detected, window precision {matched['precision']:.3f} recall "
            f"{matched['recall']:.3f} F1 {matched['f1']:.3f}, "
            f"{matched['false_alarm_windows']} false-alarm windows, ROC-AUC "
            + ("undefined" if matched["roc_auc"] is None else f"{matched['roc_auc']:.3f}")
        )
    if out is not None:
        say(f"wrote {out}")


def _against_truth(scores: Scores, truth: np.ndarray, window: int, column: str) -> dict[str, Any]:
    """Event recall, window F1, false alarms and ROC-AUC of the flags against the CSV's
    ground-truth column."""
    from secmas.analytics.events import rank_windows, score_events

    result = score_events(scores.flags, truth, ends=scores.end, span=window)
    ranking = rank_windows(scores.score, truth, scores.end, window)
    found = len(result.detected)
    auc = ranking.roc_auc
    return {
        "column": column,
        "detected": found,
        "events": found + len(result.missed),
        "precision": result.precision,
        "recall": result.recall,
        "f1": result.f1,
        "false_alarm_windows": result.false_alarm_windows,
        "roc_auc": None if auc != auc else auc,
    }


def _alerts(scores: Scores, timestamps: tuple[str, ...] | None, top: int) -> list[dict[str, Any]]:
    """The `top` flagged windows by score, with the metrics that deviated most."""
    flagged = scores.flagged
    strongest = flagged[(-scores.score[flagged]).argsort(kind="stable")][:top]
    alerts = []
    for i in strongest:
        end = int(scores.end[i])
        alerts.append(
            {
                "window_end": end,
                "time": timestamps[end] if timestamps is not None else None,
                "score": float(scores.score[i]),
                "threshold": float(scores.limit[i]),
                "top_metrics": [
                    {"metric": name, "error": error} for name, error in scores.explain(int(i), 3)
                ],
            }
        )
    return alerts


def _alerts_table(alerts: list[dict[str, Any]], timed: bool) -> Table:
    """The alerts of `_alerts` as a table."""
    from rich.table import Table

    table = Table(title=f"top {len(alerts)} alerts")
    table.add_column("window end", justify="right")
    if timed:
        table.add_column("time")
    table.add_column("score", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("top metrics (error)")
    for alert in alerts:
        causes = ", ".join(f"{m['metric']} {m['error']:.2f}" for m in alert["top_metrics"])
        table.add_row(
            str(alert["window_end"]),
            *([alert["time"]] if timed else []),
            f"{alert['score']:.4g}",
            f"{alert['threshold']:.4g}",
            causes,
        )
    return table


@detect_app.command("train")
def train(
    scenario: Annotated[
        Path,
        typer.Argument(
            metavar="SCENARIO", help="scenario YAML with PoPs, a cnfs and a traffic section"
        ),
    ],
    out: Annotated[Path, _out_option("model file to write")],
    federated: Annotated[
        bool,
        typer.Option(
            "--federated",
            help="FedAvg over the agents, every exchange a secure sum (default: central "
            "training on the agents' pooled telemetry)",
        ),
    ] = False,
    rounds: Annotated[int, typer.Option(min=1, metavar="N", help="FedAvg rounds")] = 10,
    local_epochs: Annotated[
        int,
        typer.Option(
            min=1, metavar="N", help="epochs each agent trains per round (central: rounds × this)"
        ),
    ] = 3,
    seconds: Annotated[
        float | None,
        typer.Option(
            min=1.0,
            metavar="X",
            help="simulated seconds of telemetry per agent (default: the scenario's "
            "analytics samples split among the agents)",
        ),
    ] = None,
    dropout: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.9,
            metavar="X",
            help="threat model: fraction of agents that may drop out of a round",
        ),
    ] = 0.2,
    corrupt: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.9,
            metavar="X",
            help="threat model: fraction of agents colluding with the server",
        ),
    ] = 0.0,
    processes: Annotated[
        bool,
        typer.Option(
            "--processes",
            help="with --federated: every agent its own OS process over a nats-server, "
            "attested and keyed as in a run, the secure sums over their secure channel",
        ),
    ] = False,
    norm_bound: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            metavar="B",
            help="with --federated: L2 bound on each agent's update; a round whose secure "
            "sum exceeds agents × B is refused as poisoned (default: the plan's)",
        ),
    ] = None,
    compare: Annotated[
        bool,
        typer.Option(
            help="with --federated, also train centrally on the pooled data and compare F1"
        ),
    ] = True,
    test_runs: Annotated[
        int,
        typer.Option(
            min=0, metavar="N", help="held-out attack runs (900 s each) the F1 is measured on"
        ),
    ] = 2,
    report: Annotated[
        Path | None,
        typer.Option("--report", metavar="FILE", help="JSON file of the rounds and F1 to write"),
    ] = None,
    force: ForceFileOption = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train the detector of a scenario's CNF from its agents' telemetry (one agent per
    PoP), centrally or federated with secure aggregation, and report F1 on attack runs.

    Example: secmas detect train scenarios/cnf-attack.yaml -o model.pt --federated"""
    set_quiet(quiet)
    check_new_files(force, ("--out", out), ("--report", report))
    if (processes or norm_bound is not None) and not federated:
        raise fail("--processes and --norm-bound go with --federated")
    check_readable(scenario)
    with json_mode(as_json):
        _train(scenario, out, federated, rounds, local_epochs, seconds, dropout, corrupt,
               compare, test_runs, report, as_json, processes, norm_bound)  # fmt: skip


def _train(
    scenario: Path,
    out: Path,
    federated: bool,
    rounds: int,
    local_epochs: int,
    seconds: float | None,
    dropout: float,
    corrupt: float,
    compare: bool,
    test_runs: int,
    report: Path | None,
    as_json: bool,
    processes: bool = False,
    norm_bound: float | None = None,
) -> None:
    from dataclasses import replace

    from secmas.analytics.reference import TrainingPlan
    from secmas.scenario.loader import ScenarioError
    from secmas.scenario.validation import load_runnable
    from secmas.secagg.federated import (
        FederatedPlan,
        agent_telemetry,
        attack_runs,
        central_detector,
        telemetry_seconds,
    )
    from secmas.secagg.neighbours import ThreatModel, choose

    try:
        loaded = load_runnable(scenario, strategy=False)
    except ScenarioError as exc:
        raise fail("; ".join(str(p) for p in exc.problems)) from None
    plan = FederatedPlan.of(TrainingPlan(), rounds, local_epochs, loaded.seed)
    plan = plan if norm_bound is None else replace(plan, clip=norm_bound)
    step = loaded.traffic.step if loaded.traffic is not None else 1.0
    if seconds is not None and seconds / step > plan.weight_unit:
        raise fail(f"--seconds: at most {plan.weight_unit * step:g} s of telemetry per agent")
    try:
        data = agent_telemetry(loaded, loaded.analytics.samples, plan.window, seconds)
    except ValueError as exc:
        raise fail(f"{scenario}: {exc}") from None
    try:
        threat = ThreatModel(corrupt=corrupt, dropout=dropout)
        graph = choose(len(data.values), threat) if federated else None
    except ValueError as exc:
        raise fail(f"--corrupt/--dropout: {exc}") from None
    say(
        f"{len(data.values)} agents ({', '.join(data.pops)}), each with "
        f"{len(data.values[0])} steps of its own telemetry of CNF {data.cnf} "
        f"({len(data.features)} metrics)"
    )
    result: dict[str, dict[str, object]] = {}
    detectors: dict[str, Detector] = {}
    labelled = attack_runs(loaded, test_runs) if test_runs else []
    if graph is not None:
        say(
            f"FedAvg: {rounds} rounds × {local_epochs} local epochs, each update clipped to "
            f"L2 norm {plan.clip:g}; every exchange a secure sum (Bonawitz et al., threshold "
            f"t = {graph.threshold} of {graph.clients}, corrupt ≤ {corrupt:.0%}, dropout ≤ "
            f"{dropout:.0%})" + (f"; F1 after each round on {test_runs} attack runs" if
                                 test_runs else "")
        )  # fmt: skip
        own = seconds or telemetry_seconds(loaded, loaded.analytics.samples, plan.window)
        where = (scenario, own) if processes else None
        detectors["federated"], result["federated"] = _train_federated(
            data, plan, threat, labelled, where
        )
    if not federated or compare:
        say(
            f"central training on the pooled telemetry: {rounds * local_epochs} epochs"
            + (" (the baseline)" if federated else "")
        )
        began = time.perf_counter()
        detectors["central"] = central_detector(data.values, data.features, plan)
        result["central"] = {
            "seconds": time.perf_counter() - began,
            "threshold": detectors["central"].static.value,
        }
        say(
            f"central model trained in {time.perf_counter() - began:.1f} s; threshold "
            f"{detectors['central'].static.value:.4g}"
        )
    if test_runs:
        _compare(labelled, detectors, result)
    _save(detectors["federated" if federated else "central"], out)
    document = {"scenario": loaded.id, "agents": list(data.pops), **result}
    if report is not None:
        _write_json(report, document)
    if as_json:
        print_json({"model": out, "report": report, **document})


def _train_federated(
    data: AgentTelemetry,
    plan: FederatedPlan,
    threat: ThreatModel,
    labelled: list[tuple[np.ndarray, np.ndarray]],
    processes: tuple[Path, float] | None,
) -> tuple[Detector, dict[str, object]]:
    """FedAvg with every exchange a secure sum, a line per round (with the global model's
    F1 on `labelled` when there are runs); in this process, or with `processes` (the
    scenario file, seconds of telemetry per agent) among agent processes. The detector and
    what the report keeps of it (rounds, bytes, threshold)."""
    from secmas.analytics.threads import limit_torch_threads
    from secmas.pipeline.errors import PipelineError
    from secmas.secagg.errors import SecAggError
    from secmas.secagg.federated import (
        RoundLog,
        bus_aggregator,
        describe_round,
        train_federated,
        window_f1,
    )

    limit_torch_threads(1)  # the agents' local training: one core each, as deployed
    evaluate = (lambda d: window_f1(d, labelled)["f1"]) if labelled else None

    def progress(log: RoundLog) -> None:
        detail(describe_round(log, plan.rounds))

    began = time.perf_counter()
    try:
        if processes is None:
            trained = train_federated(
                data.values, data.features, bus_aggregator(threat), plan, progress, evaluate
            )
        else:
            from secmas.api.training import train_among_processes

            path, seconds = processes
            say(
                f"starting {len(data.values)} agent processes over a nats-server of their "
                "own: each joins, is attested on the ledger and keyed before it trains"
            )
            trained = train_among_processes(
                path, plan, seconds, threat=threat, evaluate=evaluate, progress=progress
            ).result
    except (SecAggError, PipelineError, ValueError, OSError, TimeoutError) as exc:
        raise fail(f"federated training failed: {exc}", FAILED_RUN) from None
    elapsed = time.perf_counter() - began
    say(
        f"federated model trained in {elapsed:.1f} s; the secure sums moved "
        f"{trained.bytes / 1e6:.1f} MB; threshold {trained.detector.static.value:.4g}"
    )
    refused = [f"round {r.round}: {r.rejected}" for r in trained.rounds if r.rejected]
    for line in refused:
        say(f"poisoning detected, {line}")
    return trained.detector, {
        "seconds": elapsed,
        "processes": processes is not None,
        "norm_bound": plan.clip,
        "secure_sum_bytes": trained.bytes,
        "threshold": trained.detector.static.value,
        "f1_per_round": trained.f1,
        "rounds": [
            {
                "round": r.round,
                "agents": [data.pops[a] for a in r.agents],
                "train_seconds": r.train_seconds,
                "aggregate_seconds": r.aggregate_seconds,
                "bytes": r.bytes,
                "clipped": r.clipped,
                "refused_updates": r.refused,
                "f1": r.f1,
                "threshold": r.threshold,
                "rejected": r.rejected,
            }
            for r in trained.rounds
        ],
    }


def _compare(
    labelled: list[tuple[np.ndarray, np.ndarray]],
    detectors: dict[str, Detector],
    result: dict[str, dict[str, object]],
) -> None:
    """Window F1 of every model on the held-out attack runs `labelled`: printed, and
    added to each model's entry in `result`."""
    from rich.table import Table

    from secmas.secagg.federated import window_f1

    say(f"scoring on {len(labelled)} held-out attack runs")
    table = Table(title="window F1, held-out attack runs")
    for column in ("model", "precision", "recall", "F1"):
        table.add_column(column, justify="left" if column == "model" else "right")
    f1 = {}
    for name, detector in detectors.items():
        scores = window_f1(detector, labelled)
        result[name].update(scores)
        f1[name] = scores["f1"]
        table.add_row(name, *(f"{scores[k]:.3f}" for k in ("precision", "recall", "f1")))
    console.print(table)
    if len(f1) == 2:
        say(f"F1 federated − central: {f1['federated'] - f1['central']:+.3f}")


def _save(detector: WindowDetector, out: Path) -> None:
    from secmas.analytics.modelfile import ModelFileError

    try:
        detector.save(out)
    except ModelFileError as exc:
        raise fail(str(exc)) from None
    say(f"wrote {out}")


def _write_json(path: Path, data: dict[str, object]) -> None:
    from secmas import strictjson

    try:
        strictjson.write(path, data)
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}") from None
    say(f"wrote {path}")


@detect_app.command("dataset")
def dataset(
    scenario: Annotated[
        Path, typer.Argument(metavar="SCENARIO", help="scenario YAML with a cnfs section")
    ],
    out: Annotated[Path, _out_option("CSV file to write")],
    seconds: Annotated[
        float, typer.Option(min=1.0, metavar="X", help="simulated seconds")
    ] = 2400.0,
    seed: Annotated[
        int,
        typer.Option(
            parser=parse_seed,
            metavar="N",
            help=f"seed of the simulated run, or of the emulated clients' schedules ({SEED_RANGE})",
        ),
    ] = 1,
    conditions: Annotated[
        str | None,
        typer.Option(
            metavar="NAMES",
            help="comma-separated episodes to include (e.g. http_flood,high_cpu); "
            "none: normal behaviour only (a training set)",
        ),
    ] = None,
    cnf: Annotated[
        str | None, typer.Option(metavar="NAME", help="the CNF (default: the first)")
    ] = None,
    labels: Annotated[
        bool, typer.Option("--labels", help="add a 'label' column with the ground truth")
    ] = False,
    dataplane: Annotated[
        str,
        typer.Option(
            metavar="ENGINE",
            help="simulator, or emulated: record the real nginx CNF under real attacks "
            "(root; --seconds is then each phase's wall time: normal, each attack, normal)",
        ),
    ] = "simulator",
    traffic: Annotated[
        str,
        typer.Option(
            metavar="KIND",
            help="emulated only: steady clients, or realistic normal traffic (a compressed "
            "daily cycle, bursty clients, cache-miss spikes, nginx restarted halfway "
            "through the first normal phase)",
        ),
    ] = "steady",
    attack_size: Annotated[
        float,
        typer.Option(
            min=0.001,
            max=1.0,
            metavar="SHARE",
            help="emulated only: every attack at this share of its full size (e.g. 0.03)",
        ),
    ] = 1.0,
    force: ForceFileOption = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Export a simulated CNF metric series as CSV, as the Metrics Collector does: normal
    behaviour for training, or a test set with episodes of attacks and anomalies.

    Example: secmas detect dataset scenarios/cnf-attack.yaml -o normal.csv"""
    set_quiet(quiet)
    check_new_files(force, ("--out", out))
    if dataplane not in ("simulator", "emulated"):
        raise fail(f"--dataplane {dataplane!r}: choose simulator or emulated")
    if traffic not in ("steady", "realistic"):
        raise fail(f"--traffic {traffic!r}: choose steady or realistic")
    if dataplane != "emulated" and (traffic != "steady" or attack_size != 1.0):
        raise fail("--traffic and --attack-size need --dataplane emulated")
    check_readable(scenario)
    wanted = [c.strip() for c in (conditions or "").split(",") if c.strip()]
    with json_mode(as_json):
        if dataplane == "emulated":
            from secmas.cli.cnfemulated import RecordingShape, record_dataset

            shape = RecordingShape(traffic == "realistic", attack_size, seed)
            series = record_dataset(scenario, out, seconds, wanted, labels, shape)
        else:
            series = _simulated_dataset(scenario, out, seconds, seed, wanted, cnf, labels)
        flagged = int((series.labels != "normal").sum())
        if as_json:
            print_json(
                {
                    "file": out,
                    "rows": len(series),
                    "features": list(series.features),
                    "anomalous": flagged,
                    "labels": labels,
                }
            )
            return
        what = "under attack" if dataplane == "emulated" else "anomalous"
        say(f"wrote {out}: {len(series)} rows × {len(series.features)} metrics, {flagged} {what}")


def _simulated_dataset(
    scenario: Path,
    out: Path,
    seconds: float,
    seed: int,
    wanted: list[str],
    cnf: str | None,
    labels: bool,
) -> Any:
    """The simulated series, written to `out`."""
    from secmas.analytics.datasets import episode_series, normal_series
    from secmas.network.dataplane.cnf import known_conditions
    from secmas.scenario.loader import ScenarioError
    from secmas.scenario.validation import load_runnable

    try:
        loaded = load_runnable(scenario, strategy=False)
    except ScenarioError as exc:
        raise fail("; ".join(str(p) for p in exc.problems)) from None
    known = known_conditions()
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise fail(f"--conditions: unknown {', '.join(unknown)}; known: {', '.join(known)}")
    try:
        if wanted:
            series = episode_series(loaded, wanted, seed, seconds=seconds, cnf=cnf)
        else:
            if cnf is not None and cnf not in {c.id for c in loaded.cnfs}:
                raise KeyError(f"unknown CNF {cnf!r}")
            series = normal_series(loaded, seconds, seed)
    except (KeyError, ValueError) as exc:
        raise fail(f"{scenario}: {exc.args[0] if exc.args else exc}") from None
    try:
        _write_series(out, series, labels)
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror}") from None
    return series


def _write_series(path: Path, series: object, labels: bool) -> None:
    """Rows of `timestamp, metrics…[, label]`."""
    import csv

    from secmas.analytics.datasets import LabelledSeries

    assert isinstance(series, LabelledSeries)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("timestamp", *series.features, *(("label",) if labels else ())))
        for index, row in enumerate(series.values):
            extra = (series.labels[index],) if labels else ()
            writer.writerow((f"{index * series.step:g}", *(f"{v:.6g}" for v in row), *extra))
