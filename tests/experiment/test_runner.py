"""A real sweep end to end on two worker processes, then resumed after a crash that left
half a row, and refused where its folder holds something else."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from secmas.experiment.results import read_rows
from secmas.experiment.runner import SweepRefused, run_sweep
from secmas.experiment.spec import load_spec

TINY = Path(__file__).parent / "data" / "tiny.yaml"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny sweep (4 runs on a 6-PoP ring) run once on two workers."""
    folder = tmp_path_factory.mktemp("swept")
    outcome = run_sweep(load_spec(TINY), folder, workers=2)
    assert (outcome.total, outcome.skipped, outcome.ran, outcome.failed) == (4, 0, 4, 0)
    return folder


def test_every_run_has_its_row(swept: Path) -> None:
    spec = load_spec(TINY).spec
    rows = read_rows(swept / "sweep-tiny.csv", spec.columns)
    assert len({row["run"] for row in rows}) == 4
    for row in rows:
        assert row["error"] == "" and row["passed"] == "true"
        assert row["agents"] == "6" and int(row["auctions"]) >= 1
        assert float(row["peak_rss_mib"]) > 50 and float(row["run_rss_mib"]) >= 0
        # 60 goals of up to 0.1 s on the monitor's agent hold its 32 intention slots
        throttled = float(row["throttle_s"])
        assert throttled > 0 if row["load.synthetic_goals"] == "60" else throttled == 0
    for name in ("sweep-tiny-summary.csv", "sweep-tiny.png", "sweep-tiny.json"):
        assert (swept / name).stat().st_size > 0
    summary = (swept / "sweep-tiny-summary.csv").read_text().splitlines()
    assert summary[0] == "scenario,load.synthetic_goals,measure,n,mean,std,ci95_low,ci95_high"
    assert any(line.startswith("ring-6,60,throttle_s,2,") for line in summary)


def test_resume_runs_only_what_is_missing(swept: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(swept, folder)
    csv = folder / "sweep-tiny.csv"
    lines = csv.read_text().splitlines(keepends=True)
    lost = lines[-1].split(",")[0]
    csv.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # killed mid-row
    outcome = run_sweep(load_spec(TINY), folder, workers=2, resume=True)
    assert (outcome.skipped, outcome.ran, outcome.failed) == (3, 1, 0)
    rows = read_rows(csv, load_spec(TINY).spec.columns)
    assert sorted(row["run"] for row in rows) == sorted(line.split(",")[0] for line in lines[1:])
    assert rows[-1]["run"] == lost


def test_a_changed_spec_or_a_taken_folder_is_refused(swept: Path, tmp_path: Path) -> None:
    with pytest.raises(SweepRefused, match="holds results: --resume"):
        run_sweep(load_spec(TINY), swept)
    changed = tmp_path / "tiny.yaml"
    changed.write_text(TINY.read_text().replace("[0, 60]", "[0, 30]"))
    with pytest.raises(SweepRefused, match="changed since the sweep"):
        run_sweep(load_spec(changed), swept, resume=True)
    replotted = tmp_path / "replot.yaml"  # plots are not part of what makes runs comparable
    replotted.write_text(TINY.read_text().replace("[throttle_s, wall_s]", "[throttle_s]"))
    assert run_sweep(load_spec(replotted), swept, resume=True).ran == 0
