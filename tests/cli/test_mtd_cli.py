"""The mtd section in a run: a low-load timing reads its forecaster model file, and a
missing or unfit one exits 2 naming it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from secmas.analytics.forecast import Forecaster
from secmas.api.defence import adaptive_defence
from secmas.api.errors import RunInputError
from secmas.network.dataplane.cnf import METRICS
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def low_load(folder: Path, forecaster: str) -> Path:
    """The adaptive scenario in `folder`, timing its moves by the forecaster file."""
    shutil.copytree(ROOT / "scenarios" / "cti", folder / "cti")
    text = (ROOT / "scenarios" / "adaptive-defence.yaml").read_text()
    text = re.sub(r"\n  timing: plan\n  forecaster: [^\n]*\n", "\n", text)
    text = text.replace(
        "  step: 15\n", f"  step: 15\n  timing: low-load\n  forecaster: {forecaster}\n"
    )
    path = folder / "adaptive.yaml"
    path.write_text(text)
    return path


def test_a_forecaster_file_times_the_moves_and_a_bad_one_exits_2(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    series = np.stack([1 + rng.random(80), 100 + rng.random(80)], axis=1)
    model = Forecaster.fit(
        series,
        ["net_rx"],
        features=["net_rx", "memory_rss"],
        horizon=5,
        window=5,
        epochs=1,
        width=0.25,
    )
    model.save(tmp_path / "traffic.pt")
    path = low_load(tmp_path, "traffic.pt")
    defence = adaptive_defence(load_scenario(path), path)
    assert defence.mtd is not None and defence.mtd.forecast is not None
    samples = np.ones((10, len(METRICS)))
    assert len(defence.mtd.forecast("web", samples)) == 5
    for name in ("missing.pt", "adaptive.yaml"):
        path = low_load(tmp_path / name.replace(".", "-"), name)
        with pytest.raises(RunInputError, match="mtd"):
            adaptive_defence(load_scenario(path), path)
