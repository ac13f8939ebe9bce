"""`secmas detect fit` and `secmas detect score`: LSTM-autoencoder anomaly detection on CSV
metric exports (`002_…`, Section IV).

`fit` trains a detector on a CSV of normal behaviour (one column per metric) and writes the
model file; `score` reads a CSV of the same metrics, flags the anomalous windows, prints the
strongest alerts with the metrics that deviated most and can write one row per window.

Exit codes as for every `secmas` command: 0 success, 2 bad input (unreadable CSV or model,
columns that do not match the model, too few rows, unwritable output), with a one-line
message naming the file and never a traceback. torch loads only when a command runs.
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from secmas.cli.output import console, fail, say

if TYPE_CHECKING:
    from secmas.analytics.autoencoder import Scores
    from secmas.analytics.csvdata import CSVSeries


detect_app = typer.Typer(
    help="Anomaly detection on CNF metrics (CSV) with an LSTM autoencoder.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


class ThresholdChoice(StrEnum):
    """Which threshold flags a window."""

    static = "static"
    adaptive = "adaptive"


def _read(path: Path) -> CSVSeries:
    from secmas.analytics.csvdata import CSVDataError, read_series

    try:
        return read_series(path)
    except CSVDataError as exc:
        raise fail(str(exc)) from None


CsvOption = Annotated[Path, typer.Option("--csv", help="CSV file: a header, one column a metric")]


@detect_app.command("fit")
def fit(
    csv: CsvOption,
    output: Annotated[Path, typer.Option("--output", "-o", help="model file to write")],
    window: Annotated[int, typer.Option(min=1, help="time steps per window")] = 10,
    epochs: Annotated[int, typer.Option(min=1, help="training epochs")] = 30,
    batch: Annotated[int, typer.Option(min=1, help="windows per batch")] = 50,
    hidden: Annotated[int, typer.Option(min=1, help="LSTM hidden units")] = 32,
    latent: Annotated[int, typer.Option(min=1, help="size of the bottleneck")] = 16,
    percentile: Annotated[
        float, typer.Option(min=50.0, max=100.0, help="static threshold: this percentile")
    ] = 99.0,
    seed: Annotated[int, typer.Option(help="seed of initialisation and shuffling")] = 0,
) -> None:
    """Train a detector on a CSV of normal behaviour and write the model file."""
    from secmas.analytics.autoencoder import Detector
    from secmas.analytics.csvdata import CSVDataError, check_rows
    from secmas.analytics.modelfile import ModelFileError

    if not output.parent.is_dir():
        raise fail(f"cannot write {output}: no folder {output.parent}")
    series = _read(csv)
    rows, columns = series.values.shape
    try:
        check_rows(csv, rows, window)
    except CSVDataError as exc:
        raise fail(str(exc)) from None
    say(f"{csv}: {rows} rows of {columns} metrics ({', '.join(series.features)})")

    def progress(epoch: int, train: float, validation: float | None) -> None:
        held = "" if validation is None else f"  validation MAE {validation:.4f}"
        say(f"epoch {epoch:>3}/{epochs}  train MAE {train:.4f}{held}")

    started = time.perf_counter()
    try:
        detector = Detector.fit(
            series.values,
            series.features,
            window=window,
            epochs=epochs,
            batch=batch,
            hidden=hidden,
            latent=latent,
            seed=seed,
            percentile=percentile,
            progress=progress,
        )
    except ValueError as exc:
        raise fail(f"{csv}: {exc}") from None
    elapsed = time.perf_counter() - started
    windows = rows - window + 1
    say(
        f"threshold {detector.static.value:.4g} (the {percentile:g}th percentile of the "
        f"reconstruction errors of {windows} normal windows)"
    )
    say(f"trained in {elapsed:.1f} s")
    try:
        detector.save(output)
    except ModelFileError as exc:
        raise fail(str(exc)) from None
    say(f"wrote {output}")


@detect_app.command("score")
def score(
    csv: CsvOption,
    model: Annotated[Path, typer.Option("--model", help="model file written by `detect fit`")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="CSV of per-window scores to write")
    ] = None,
    threshold: Annotated[
        ThresholdChoice, typer.Option(help="static (the paper's) or adaptive (follows drift)")
    ] = ThresholdChoice.static,
    top: Annotated[int, typer.Option(min=0, help="how many alerts to list")] = 10,
) -> None:
    """Score a CSV of metrics with a fitted detector: flagged windows and their causes."""
    from secmas.analytics.autoencoder import Detector, DetectorInputError
    from secmas.analytics.csvdata import CSVDataError, check_rows, write_scores
    from secmas.analytics.modelfile import ModelFileError

    try:
        detector = Detector.load(model)
    except ModelFileError as exc:
        raise fail(str(exc)) from None
    series = _read(csv)
    try:
        check_rows(csv, series.values.shape[0], detector.window)
        scores = detector.score(series.values, columns=series.features, threshold=threshold.value)
    except CSVDataError as exc:
        raise fail(str(exc)) from None
    except DetectorInputError as exc:
        raise fail(f"{csv}: {exc} (model {model})") from None
    flagged = len(scores.flagged)
    share = flagged / len(scores)
    say(
        f"{len(scores)} windows, {flagged} flagged ({share:.1%}) under the "
        f"{threshold.value} threshold"
    )
    if flagged and top:
        console.print(_alerts(scores, series.timestamps, top))
    if output is not None:
        try:
            write_scores(output, scores, series.timestamps)
        except OSError as exc:
            raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
        say(f"wrote {output}")


def _alerts(scores: Scores, timestamps: tuple[str, ...] | None, top: int) -> Table:
    """The `top` flagged windows by score, with the metrics that deviated most."""
    flagged = scores.flagged
    strongest = flagged[(-scores.score[flagged]).argsort(kind="stable")][:top]
    table = Table(title=f"top {len(strongest)} alerts")
    table.add_column("window end", justify="right")
    if timestamps is not None:
        table.add_column("time")
    table.add_column("score", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("top metrics (error)")
    for i in strongest:
        end = int(scores.end[i])
        causes = ", ".join(f"{name} {error:.2f}" for name, error in scores.explain(int(i), 3))
        when = [escape(timestamps[end])] if timestamps is not None else []
        table.add_row(
            str(end),
            *when,
            f"{scores.score[i]:.4g}",
            f"{scores.limit[i]:.4g}",
            escape(causes),
        )
    return table


@detect_app.command("dataset")
def dataset(
    scenario: Annotated[Path, typer.Option("--scenario", help="scenario YAML with a cnfs section")],
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV file to write")],
    seconds: Annotated[float, typer.Option(min=1.0, help="simulated seconds")] = 2400.0,
    seed: Annotated[int, typer.Option(help="seed of the simulated run")] = 1,
    conditions: Annotated[
        str | None,
        typer.Option(
            help="comma-separated episodes to include (e.g. http_flood,high_cpu); "
            "none: normal behaviour only (a training set)"
        ),
    ] = None,
    cnf: Annotated[str | None, typer.Option(help="the CNF (default: the first)")] = None,
    labels: Annotated[
        bool, typer.Option("--labels", help="add a 'label' column with the ground truth")
    ] = False,
) -> None:
    """Export a simulated CNF metric series as CSV, as the Metrics Collector does: normal
    behaviour for training, or a test set with episodes of attacks and anomalies."""
    from secmas.analytics.datasets import episode_series, normal_series
    from secmas.network.dataplane.cnf import CONDITIONS
    from secmas.scenario.loader import ScenarioError, load_scenario

    try:
        loaded = load_scenario(scenario)
    except ScenarioError as exc:
        raise fail("; ".join(str(p) for p in exc.problems)) from None
    wanted = [c.strip() for c in (conditions or "").split(",") if c.strip()]
    unknown = [c for c in wanted if c not in CONDITIONS]
    if unknown:
        raise fail(f"--conditions: unknown {', '.join(unknown)}; known: {', '.join(CONDITIONS)}")
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
        _write_series(output, series, labels)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}") from None
    flagged = int((series.labels != "normal").sum())
    say(f"wrote {output}: {len(series)} rows × {len(series.features)} metrics, {flagged} anomalous")


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
