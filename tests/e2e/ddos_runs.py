"""The reference DDoS scenario as the real-time tests run it (agents as processes, on
namespace hosts, with faults): loaded once per test process.

It keeps its whole 240 simulated seconds. Cut to 180 s (its mitigation ends by about
135 s in a quiet run), a run that lost an agent, and a run on namespace hosts beside
`stress-ng --cpu 2`, missed acceptance: their mitigation ends later, and the acceptance
reads the last 20 s.
"""

from __future__ import annotations

from pathlib import Path

from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_FILE = ROOT / "scenarios" / "ddos-6pop.yaml"
SCENARIO = load_scenario(SCENARIO_FILE)
