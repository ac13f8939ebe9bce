"""A monitoring gap passed off as normal behaviour: a recording of the real CNF in
which Prometheus kept repeating one scrape, given to the closed loop as the
normal behaviour it learns (`--recording`).

When scrapes stall, a range query repeats the last sample at every step: in the shipped
attack recording the whole HTTP flood sat at 41 req/s for 40 rows. A detector that learns
such rows as normal learns the gap, not the CNF (and an attacker who can stall the
exporter chooses what it learns). The loop must refuse the file, naming it and the rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from secmas.network.dataplane.cnf import METRICS
from secmas.pipeline.cnf_emulated import recorded_normal
from secmas.pipeline.errors import RunError


def stalled_recording(path: Path) -> Path:
    """60 rows of live normal telemetry (every metric moves) with rows 25–36 one repeated
    scrape: the flood's row, labelled normal."""
    rng = np.random.default_rng(3)
    rows = 1.0 + rng.random((60, len(METRICS)))
    rows[25:37] = rows[25]
    lines = [",".join(("timestamp", *METRICS, "label"))]
    lines += [
        ",".join((f"{0.5 * i:.3f}", *(f"{v:.6g}" for v in row), "normal"))
        for i, row in enumerate(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_loop_refuses_a_normal_recording_with_a_stalled_stretch(tmp_path: Path) -> None:
    path = stalled_recording(tmp_path / "stalled-normal.csv")
    with pytest.raises(RunError, match=r"stalled-normal\.csv: 12 rows .*rows 25–36"):
        recorded_normal(path)


def test_a_live_recording_is_still_learnt(tmp_path: Path) -> None:
    path = stalled_recording(tmp_path / "live.csv")
    text = path.read_text(encoding="utf-8").splitlines()
    del text[27:38]  # the repeats gone: at most two identical rows in a row
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    assert recorded_normal(path).shape == (49, len(METRICS))
