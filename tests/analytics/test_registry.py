"""Detectors as plug-ins (secmas.analytics.registry): the built-ins are found through the
`secmas.detectors` entry points, and a detector of a distribution installed for the test
(a `.dist-info` folder on the import path, as pip installs one) is listed, fitted, saved,
scored and chosen through the same paths as theirs, by the library and by
`secmas detect`."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import typer
from tests.test_plugins import install, site
from typer.testing import CliRunner

from secmas.analytics.modelfile import ModelFileError
from secmas.analytics.registry import (
    benchmark_order,
    detector_class,
    detector_names,
    fit_detector,
    load_detector,
)
from secmas.analytics.scoring import Fitting
from secmas.cli.detect import detect_app
from secmas.plugins import PluginError, plugin, rescan

__all__ = ["site"]  # the fixture, used by name

MAD = '''
from typing import Any, Self

import numpy as np

from secmas.analytics.detectors import BaselineDetector
from secmas.analytics.scoring import Fitting, StoredBasics
from secmas.analytics.threshold import AdaptiveThreshold, StaticThreshold
from secmas.analytics.windows import sliding


class MedianDeviation(BaselineDetector):
    """Each step's distance from the normal median in median absolute deviations; a
    window's error per metric is its largest, its score the largest over the metrics."""

    name = "mad"
    kind = "mad-deviation"
    title = "distance from the median in median absolute deviations"

    def __init__(self, features, window, median, spread, static, adaptive, limits=None):
        super().__init__(features, window, static, adaptive, limits)
        self.median, self.spread = median, spread

    @classmethod
    def fit(cls, series, features, fitting: Fitting) -> Self:
        median = np.median(series, axis=0)
        spread = np.maximum(np.median(np.abs(series - median), axis=0), 1e-9)
        rules = StaticThreshold(fitting.percentile), AdaptiveThreshold(
            percentile=fitting.percentile
        )
        return cls(features, fitting.window, median, spread, *rules)

    @classmethod
    def rebuild(cls, basics: StoredBasics, arrays: dict[str, Any], config) -> Self:
        head = basics.features, basics.window, arrays["median"], arrays["spread"]
        return cls(*head, basics.static, basics.adaptive, basics.feature_limits)

    @staticmethod
    def combine(per_feature):
        return np.asarray(per_feature, dtype=np.float64).max(axis=-1)

    def _errors(self, series):
        return sliding(np.abs(series - self.median) / self.spread, self.window).max(axis=1)

    def state(self):
        return {"median": self.median, "spread": self.spread}
'''
ENTRY = "[secmas.detectors]\nmad = mad_detector_mod:MedianDeviation\n"
FEATURES = ("cpu", "connections")
MODULES = ("mad_detector_mod", "misnamed_mod", "odd_mod")
runner = CliRunner()
app = typer.Typer(pretty_exceptions_enable=False)
app.add_typer(detect_app, name="detect")


@pytest.fixture(autouse=True)
def fresh_modules(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test imports the plug-ins it installs from its own folder, not an earlier
    test's module of the same name."""
    for name in MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield
    for name in MODULES:
        sys.modules.pop(name, None)


def normal(steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([0.5 + 0.05 * rng.standard_normal(steps), 40 + rng.standard_normal(steps)], 1)


def write_csv(path: Path, values: np.ndarray) -> Path:
    rows = [",".join(FEATURES)] + [f"{a:.6f},{b:.6f}" for a, b in values]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_the_built_ins_are_plug_ins_of_secmas_in_the_benchmarks_order() -> None:
    assert detector_names() == ("discord", "iforest", "lstm-ae", "pca", "zscore")
    assert {plugin("secmas.detectors", n).distribution for n in detector_names()} == {"secmas"}
    assert benchmark_order() == ("zscore", "discord", "pca", "iforest", "lstm-ae")
    assert detector_class("lstm-ae").kind == "autoencoder"


def test_an_installed_detector_is_fitted_saved_and_loaded_by_the_kind_its_file_records(
    site: Path, tmp_path: Path
) -> None:
    install(site, "mad_detector", ENTRY, MAD)
    assert "mad" in detector_names() and benchmark_order()[-1] == "mad"  # not benchmarked
    train = normal(400)
    detector = fit_detector("mad", train, FEATURES, Fitting(window=5))
    median = np.median(train, axis=0)
    spread = np.median(np.abs(train - median), axis=0)
    series = normal(100, seed=1)
    series[60, 1] += 12.0  # twelve σ of connections
    scores = detector.score(series)
    by_hand = (np.abs(series[56:61] - median) / spread).max()  # the window ending at 60
    assert scores.score[56] == pytest.approx(by_hand)
    assert scores.flags[(scores.end >= 60) & (scores.end < 65)].all()
    assert scores.top_feature(56) == "connections" and scores.flags[:50].mean() < 0.1
    detector.save(tmp_path / "mad.pt")
    loaded = load_detector(tmp_path / "mad.pt")
    assert type(loaded).__name__ == "MedianDeviation"
    np.testing.assert_allclose(loaded.score(series).score, scores.score)
    sys.path.remove(str(site))
    rescan()
    with pytest.raises(
        ModelFileError, match=r"holds a 'mad-deviation' model, which no installed detector reads"
    ):
        load_detector(tmp_path / "mad.pt")
    with pytest.raises(ValueError, match=r"no detector 'mad' is installed \(installed: discord"):
        fit_detector("mad", train, FEATURES)


def test_a_plug_in_that_is_no_detector_or_misnamed_is_refused(site: Path) -> None:
    install(site, "odd", "[secmas.detectors]\nodd = odd_mod:Odd\n", "class Odd: ...\n")
    with pytest.raises(PluginError, match=r"detector 'odd' \(odd 1.0, odd_mod:Odd\): is no"):
        detector_class("odd")
    misnamed = MAD.replace('name = "mad"', 'name = "other"')
    install(site, "misnamed", "[secmas.detectors]\nmad = misnamed_mod:MedianDeviation\n", misnamed)
    importlib.invalidate_caches()
    with pytest.raises(PluginError, match="its class calls itself 'other'"):
        detector_class("mad")


def test_secmas_detect_lists_fits_and_scores_an_installed_detector(
    site: Path, tmp_path: Path
) -> None:
    install(site, "mad_detector", ENTRY, MAD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    shown = subprocess.run(
        [sys.executable, "-m", "secmas", "detect", "fit", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    assert "[discord|iforest|lstm-ae|mad|pca|zscore|auto]" in shown.stdout
    normal_csv = write_csv(tmp_path / "normal.csv", normal(400))
    model = tmp_path / "mad.pt"
    fit = ["detect", "fit", "--csv", str(normal_csv), "-o", str(model), "--window", "5"]
    fitted = runner.invoke(app, [*fit, "--model", "mad"])
    assert fitted.exit_code == 0, fitted.output
    assert "mad: threshold" in fitted.output
    test = normal(100, seed=1)
    test[60, 1] += 12.0
    test_csv = write_csv(tmp_path / "t.csv", test)
    scored = runner.invoke(
        app, ["detect", "score", "--csv", str(test_csv), "--model", str(model), "--json"]
    )
    assert scored.exit_code == 0, scored.output
    assert '"detector": "mad"' in scored.output
    refused = runner.invoke(app, [*fit, "--model", "lof"], env={"COLUMNS": "200"})
    assert refused.exit_code == 2
    assert "no detector 'lof' is installed (installed: discord, iforest, lstm-ae, mad," in (
        " ".join(refused.output.split())
    )
