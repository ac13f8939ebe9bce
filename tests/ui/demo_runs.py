"""Real run folders for the UI tests, made once per test session by the `secmas` command.

- `secure`: the reference demo with the trust layer (auctions, placements, attestation
  plan and records, ledger);
- `policy`: the spoofed-injection demo (SSLA breach with its explanation, enforcements,
  audit log and its anchors);
- `loop`: the CNF-attack scenario with the closed loop, small models, 100 s, insecure
  (alerts with explanations and decisions, metrics-web.csv);
- `adaptive defence` (a space in its name): the adaptive-defence scenario, insecure (CTI
  hygiene and sharing decisions over a TAXII server of the run, MTD moves);
- `gabriel 200`: a 130 s DDoS run on topohub's 200-PoP Gabriel graph, insecure;
- `broken`: a report.json that is not JSON; `alien`: JSON of another schema.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from secmas.cli.main import app, default_scenario_path

SMALL_LOOP = """
analytics:
  detect: true
  samples: 200
  epochs: 2
  profile_epochs: 1
"""

_made: dict[str, Path] = {}


def _invoke(args: list[str]) -> None:
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output


def make_runs(factory: pytest.TempPathFactory) -> Path:
    """The runs folder, made once per test session: by whichever test asks first, and
    under pytest-xdist by the first worker to ask, the others waiting for it (the runs
    take 40-50 s and the tests only read them)."""
    if "runs" in _made:
        return _made["runs"]
    base = factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "ui-runs"
    with (shared / "ui-runs.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "complete").exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            _make(root)
            (root / "complete").touch()
    _made["runs"] = root / "runs"
    return _made["runs"]


def _make(root: Path) -> None:
    runs = root / "runs"
    _invoke(["demo", "--out", str(runs / "secure")])
    _invoke(["demo", "--scenario", "spoofed-injection", "--out", str(runs / "policy")])
    text = default_scenario_path("cnf-attack").read_text()
    text = text.split("\nanalytics:")[0].replace("duration: 300", "duration: 100") + SMALL_LOOP
    scenario = root / "cnf-small.yaml"
    scenario.write_text(text)
    cache = os.environ.get("SECMAS_CACHE")
    os.environ["SECMAS_CACHE"] = str(root / "cache")
    try:
        _invoke(["run", str(scenario), "--insecure", "--out", str(runs / "loop")])
    finally:
        if cache is None:
            del os.environ["SECMAS_CACHE"]
        else:
            os.environ["SECMAS_CACHE"] = cache
    _invoke(
        [
            "run",
            str(default_scenario_path("adaptive-defence")),
            "--insecure",
            "--out",
            str(runs / "adaptive defence"),
        ]
    )
    big = root / "gabriel-200.yaml"
    _invoke(["scenario", "from-topology", "gabriel/200/0", "--out", str(big)])
    # 130 s: the flow limits' rate limiter, a 36 s download away, blocks the last flow at
    # t = 102 s (bids read committed state, and the Classifier goes elsewhere)
    big.write_text(big.read_text().replace("\ntraffic:\n", "\ntraffic:\n  duration: 130\n", 1))
    _invoke(["run", str(big), "--insecure", "--out", str(runs / "gabriel 200")])
    (runs / "broken").mkdir()
    (runs / "broken" / "report.json").write_text('{"schema": "secmas.run/1", "run_id": ')
    (runs / "alien").mkdir()
    (runs / "alien" / "report.json").write_text('{"schema": "someone-else/2"}')
