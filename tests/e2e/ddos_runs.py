"""The reference DDoS scenario as the real-time tests run it (agents as processes, on
namespace hosts): cut from 240 to 180 simulated seconds. Its mitigation ends by about
135 s and the acceptance reads the last 20 s, so what is cut is steady state, 6–24 s of
wall time a run at the tests' 10–2.5×. Written once per test process, removed at exit.

A run that loses an agent (killed, or revoked after an implant) mitigates later: a
Classifier auctioned again after the loss is placed at about 130 s, and its flow limits
come after. Those runs keep the whole 240 s (`FULL`, `FULL_FILE`).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
FULL_FILE = ROOT / "scenarios" / "ddos-6pop.yaml"
FULL = load_scenario(FULL_FILE)
DURATION_S = 180


def _write_short() -> Path:
    text = FULL_FILE.read_text()
    full = "\n  duration: 240\n"
    assert full in text, f"{FULL_FILE} no longer lasts 240 s: revisit DURATION_S"
    folder = Path(tempfile.mkdtemp(prefix="secmas-e2e-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "ddos-6pop.yaml"
    path.write_text(text.replace(full, f"\n  duration: {DURATION_S}\n", 1))
    return path


SCENARIO_FILE = _write_short()
SCENARIO = load_scenario(SCENARIO_FILE)
