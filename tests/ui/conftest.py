"""Fixtures of the UI tests: the session's run folders and the app over them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.ui.demo_runs import make_runs

from secmas.ui.app import create_app


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_runs(tmp_path_factory)


@pytest.fixture(scope="session")
def client(runs: Path) -> TestClient:
    return TestClient(create_app(runs))


@pytest.fixture(scope="session")
def reports(runs: Path) -> dict[str, dict[str, Any]]:
    """report.json of each readable run, as written."""
    return {
        name: json.loads((runs / name / "report.json").read_text())
        for name in ("secure", "policy", "loop", "adaptive defence")
    }
