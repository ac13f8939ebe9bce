"""The sweep's figures: one file per plot, a label for every measure."""

from __future__ import annotations

from pathlib import Path

from secmas.experiment.metrics import BASE, EXTRA
from secmas.experiment.plots import LABELS, default_plots, plot_all
from secmas.experiment.spec import SweepSpec


def test_every_measure_has_an_axis_label() -> None:
    assert set(LABELS) == {*BASE, *EXTRA}


def test_plots_are_drawn_per_series_and_default_to_one_per_parameter(tmp_path: Path) -> None:
    spec = SweepSpec.model_validate(
        {
            "name": "p",
            "scenarios": [{"ring": [6, 9]}],
            "seeds": [0, 1],
            "parameters": {"attack.rate": [4, 5], "load.pop": ["pop0", "pop1"]},
            "metrics": ["throttle_s"],
        }
    )
    assert [(p.x, p.y, p.name) for p in default_plots(spec)] == [
        ("attack.rate", ("throttle_s",), None),
        ("load.pop", ("throttle_s",), "p1"),
    ]
    rows = [
        {
            "run": f"{x}{s}{pop}",
            "attack.rate": x,
            "load.pop": pop,
            "seed": s,
            "repetition": "0",
            "throttle_s": str(float(x) + int(s)),
            "error": "",
        }
        for x in ("4", "5")
        for s in ("0", "1")
        for pop in ("pop0", "pop1")
    ]
    replotted = spec.model_copy(
        update={"plots": (default_plots(spec)[0].model_copy(update={"series": "load.pop"}),)}
    )
    (path,) = plot_all(replotted, rows, tmp_path)
    assert path == tmp_path / "sweep-p.png" and path.stat().st_size > 10_000
