"""The emulated CNF run's choice of detector, without a network: a model file fitted
offline (on a recording of the real CNF) is checked to read the CNF's metrics, whatever
its column order; an unknown detector is refused."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from secmas.analytics.detectors import fit_baseline
from secmas.network.dataplane.cnf import METRICS
from secmas.pipeline.cnf_emulated import CNFRunSettings, pretrained
from secmas.pipeline.errors import RunError

RECORDING = Path(__file__).parents[2] / "benchmarks" / "recordings" / "cnf-emulated-normal.csv"


def _recorded(columns: list[str]) -> np.ndarray:
    with RECORDING.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([[float(row[c]) for c in columns] for row in rows])


def test_a_model_fitted_on_the_recording_reads_the_live_metrics(tmp_path: Path) -> None:
    columns = list(reversed(METRICS))  # another order than the loop's
    model = tmp_path / "recorded.model"
    fit_baseline("zscore", _recorded(columns), columns, window=6).save(model)
    detector = pretrained(model)
    assert detector.window == 6 and detector.name == "zscore"
    live = _recorded(list(METRICS))[:6]  # the loop's rows, in its own order
    flagged = detector.score_window(detector.align(live, METRICS))[2]["static"]
    assert not flagged  # normal rows of the recording are normal to it


def test_unknown_detector_is_refused() -> None:
    with pytest.raises(RunError, match="unknown detector 'svm'"):
        CNFRunSettings(model="svm")
