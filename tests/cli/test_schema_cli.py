"""`secmas schema KIND [--out FILE]`: prints or writes the schema the models generate (the
packaged one), and refuses an unknown kind or an unwritable file with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from secmas.cli.main import app
from secmas.schemas import KINDS, packaged

runner = CliRunner()


@pytest.mark.parametrize("kind", list(KINDS))
def test_schema_prints_the_packaged_schema(kind: str) -> None:
    result = runner.invoke(app, ["schema", kind])
    assert result.exit_code == 0, result.output
    assert result.stdout == packaged(kind).read_text(encoding="utf-8")
    assert json.loads(result.stdout)["$schema"].startswith("http://json-schema.org/draft-07")


def test_schema_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "scenario.schema.json"
    result = runner.invoke(app, ["schema", "scenario", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert out.read_text(encoding="utf-8") == packaged("scenario").read_text(encoding="utf-8")


def test_schema_refuses_an_unknown_kind_and_an_unwritable_file(tmp_path: Path) -> None:
    unknown = runner.invoke(app, ["schema", "scenarios"])
    assert unknown.exit_code == 2 and "Traceback" not in unknown.output
    missing = tmp_path / "no" / "such" / "x.json"
    unwritable = runner.invoke(app, ["schema", "hosts", "-o", str(missing)])
    assert unwritable.exit_code == 2
    assert f"--out {missing}: no folder {missing.parent}" in unwritable.output
    assert unwritable.exception is None or isinstance(unwritable.exception, SystemExit)
