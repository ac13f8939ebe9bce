"""The real CNF's choice of detector, without a network: a model file fitted offline (on
a recording of the real CNF) is checked to read the CNF's metrics, whatever its column
order; a recording's normal rows join the training; an unknown detector is refused."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from secmas.analytics.registry import fit_detector
from secmas.analytics.scoring import Fitting
from secmas.network.dataplane.cnf import METRICS
from secmas.pipeline.cnf_emulated import (
    DetectorChoice,
    PreparedDetector,
    pretrained,
    recorded_normal,
    train,
)
from secmas.pipeline.errors import RunError

RECORDING = Path(__file__).parents[2] / "benchmarks" / "recordings" / "cnf-emulated-normal.csv"


def _recorded(columns: list[str]) -> np.ndarray:
    with RECORDING.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([[float(row[c]) for c in columns] for row in rows])


def test_a_model_fitted_on_the_recording_reads_the_live_metrics(tmp_path: Path) -> None:
    columns = list(reversed(METRICS))  # another order than the loop's
    model = tmp_path / "recorded.model"
    fit_detector("zscore", _recorded(columns), columns, Fitting(window=6)).save(model)
    detector = pretrained(model)
    assert detector.window == 6 and detector.name == "zscore"
    live = _recorded(list(METRICS))[100:106]  # the loop's rows (past nginx's start)
    flagged = detector.score_window(detector.align(live, METRICS))[2]["static"]
    assert not flagged  # normal rows of the recording are normal to it


def test_unknown_detector_is_refused() -> None:
    with pytest.raises(RunError, match="unknown detector 'svm'"):
        DetectorChoice(model="svm")
    with pytest.raises(RunError, match="needs ≥ 2"):
        DetectorChoice(window=1)


def test_the_recording_joins_the_normal_phase_and_a_model_file_is_used_as_it_is(
    tmp_path: Path,
) -> None:
    normal = _recorded(list(METRICS))[:40]
    with_recording = PreparedDetector.read(DetectorChoice(recording=RECORDING))
    assert with_recording.prior is not None
    assert len(with_recording.prior) == len(_recorded(list(METRICS)))
    fitted = with_recording.fit(normal)
    assert fitted.name == "zscore" and fitted.window == 4
    model = tmp_path / "recorded.model"
    fit_detector("pca", _recorded(list(METRICS)), METRICS, Fitting(window=5)).save(model)
    from_file = PreparedDetector.read(DetectorChoice(file=model))
    assert from_file.window == 5 and from_file.fit(normal) is from_file.loaded


def test_a_recording_gives_its_normal_rows_in_the_loops_order() -> None:
    normal = recorded_normal(RECORDING)
    assert normal.shape == (len(_recorded(list(METRICS))), len(METRICS))
    assert np.array_equal(normal, _recorded(list(METRICS)))
    attacks = RECORDING.with_name("cnf-emulated-attacks.csv")
    with attacks.open(encoding="utf-8") as handle:
        labels = [row["label"] for row in csv.DictReader(handle)]
    quiet = labels.count("normal")
    assert len(recorded_normal(attacks)) == quiet < len(labels)  # the attacks' rows left out


def test_a_recording_without_the_cnf_metrics_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("timestamp,cpu\n0,1\n1,2\n", encoding="utf-8")
    with pytest.raises(RunError, match=r"--recording .*other\.csv: no column load"):
        recorded_normal(other)
    with pytest.raises(RunError, match=r"missing\.csv"):
        recorded_normal(tmp_path / "missing.csv")


def test_the_recording_gives_the_spread_and_the_warm_up_the_levels() -> None:
    recording = PreparedDetector.read(DetectorChoice(recording=RECORDING))
    assert recording.prior is not None
    own = recording.prior[200:240].copy()  # this instance: the same CNF at other levels
    moved = [METRICS.index(name) for name in ("cpu", "memory_rss", "memory_vsize")]
    own[:, moved] += [0.05, 12.0, 40.0]
    warm_up, watched = own[:14], own[14:]
    detector = recording.fit(warm_up)
    for end in range(detector.window, len(watched) + 1):
        flags = detector.score_window(watched[end - detector.window : end])[2]
        assert not flags["static"], f"normal steps {end - detector.window}–{end} flagged"
    attacked = watched[: detector.window].copy()
    attacked[:, METRICS.index("cpu")] += 1.0  # a CPU hog on this instance
    assert detector.score_window(attacked)[2]["static"]


def test_a_new_normal_after_a_remedy_keeps_the_recordings_spread() -> None:
    """A remedy moved the CNF for good (a replica's memory, say) and the loop relearns it
    from the dozen steps since: fitted on those and the warm-up alone, its limit came from
    as few windows and the next normal swing was a false alert (demo seed 13, 80 s). The
    recording at the new levels keeps the spread; a CPU hog is still caught."""
    recording = PreparedDetector.read(DetectorChoice(recording=RECORDING))
    assert recording.prior is not None
    warm_up = recording.prior[300:307]
    moved = recording.prior[307:360].copy()
    shifted = [METRICS.index(name) for name in ("cpu", "memory_rss", "memory_vsize")]
    moved[:, shifted] += [0.04, 30.0, 60.0]  # what the remedy left behind
    since, watched = moved[:6], moved[6:]
    detector = train(recording.relearning(warm_up, since), recording.choice)
    for end in range(detector.window, len(watched) + 1):
        flags = detector.score_window(watched[end - detector.window : end])[2]
        assert not flags["static"], f"normal steps {end - detector.window}–{end} flagged"
    attacked = watched[: detector.window].copy()
    attacked[:, METRICS.index("cpu")] += 1.0
    assert detector.score_window(attacked)[2]["static"]


def test_without_a_recording_a_new_normal_is_the_warm_up_and_the_steps_since() -> None:
    choice = PreparedDetector.read(DetectorChoice(recording=None))
    warm_up, since = np.zeros((7, len(METRICS))), np.ones((6, len(METRICS)))
    assert np.array_equal(choice.relearning(warm_up, since), np.concatenate([warm_up, since]))
