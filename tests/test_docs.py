"""The documentation site builds, strictly, and says what the code has.

`mkdocs build --strict` fails on a broken link or anchor between pages, a nav entry to a
missing page and a mkdocstrings reference that does not resolve; the README stays a
landing page whose links all lead somewhere; the generated CLI reference holds every
command of the `secmas` app.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from secmas.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
QUICK_START = (
    "./scripts/setup && .venv/bin/secmas demo",
    "./scripts/setup --test && .venv/bin/python -m pytest",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `mkdocs build --strict` writes it, into a temporary folder."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.fail("mkdocs is not installed: ./scripts/setup --test installs it")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def _commands(command: Any, words: list[str]) -> Iterator[list[str]]:
    """The words of every command under the click command `command`, itself first."""
    yield words
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, [*words, name])


def test_the_site_builds_strictly(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert (site / "getting-started" / "index.html").is_file()
    assert not (site / "hooks").exists(), "the build hooks are not part of the site"


def test_the_cli_reference_is_generated_with_every_command(site: Path) -> None:
    assert not (ROOT / "docs" / "reference" / "cli.md").exists(), "generated, never a file"
    page = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    every = list(_commands(typer.main.get_command(app), ["secmas"]))
    assert len(every) > 25
    missing = [
        " ".join(words)
        for words in every
        if f'id="{"-".join(words)}"' not in page or f"Usage: {' '.join(words)} " not in page
    ]
    assert not missing


def test_the_api_reference_is_generated_from_the_docstrings(site: Path) -> None:
    page = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("run.run", "run.plan", "run.execute", "run.RunResult", "placement.Processes"):
        assert f'id="secmas.api.{name}"' in page, name
    assert "Run <code>scenario</code> end to end" in page


def test_the_readme_is_a_landing_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    start = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    for command in QUICK_START:
        assert f"```bash\n{command}\n```" in text
        assert f"```bash\n{command}\n```" in start
    assert ".venv/bin/mkdocs serve" in text and ".venv/bin/mkdocs build" in text


def test_the_readme_links_lead_to_files_and_anchors_that_exist(site: Path) -> None:
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert len([t for t in targets if t.startswith("docs/")]) >= 15
    broken = []
    for target in targets:
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        if not (ROOT / path).exists():
            broken.append(target)
        elif anchor and path.startswith("docs/") and path.endswith(".md"):
            built = site / path.removeprefix("docs/").removesuffix(".md").removesuffix("index")
            html = (built / "index.html").read_text(encoding="utf-8")
            if f'id="{anchor}"' not in html:
                broken.append(target)
    assert not broken
