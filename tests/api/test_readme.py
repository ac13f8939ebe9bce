"""The Python API example of the docs (docs/guides/python-api.md, which the README links),
run as a user would paste it into a script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "python-api.md"


def api_example() -> str:
    """The first Python block of the "Python API" page."""
    page = PAGE.read_text(encoding="utf-8")
    assert page.startswith("# Python API\n"), "the page lost its title"
    match = re.search(r"```python\n(.*?)```", page, re.S)
    assert match is not None, "the Python API page has no python block"
    return match.group(1)


def test_the_docs_api_example_runs_and_reports_a_mitigated_attack(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(api_example(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "mitigated: True"
    assert lines[1].startswith("linkRateLimited(pop6~server) won by pop5 at 23.0 s")
    assert "report.json" in lines[-1]
    assert (tmp_path / "runs" / "api-example" / "report.json").is_file()
