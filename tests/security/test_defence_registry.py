"""The registry of defences cannot rot: every mutation still applies (its old text is in
its file exactly once, and the edit leaves valid Python), every test it names exists, and
every row of docs/guides/trust.md's attack tables has an entry. `scripts/defence-check`
runs the mutations themselves (slow); this checks, in a second, that it still could."""

from __future__ import annotations

import ast
from collections import Counter

import pytest
from tests.security.defences import ROOT, Defence, attack_rows, load

DEFENCES = load()


def _ids(defences: list[Defence]) -> list[str]:
    return [d.id for d in defences]


@pytest.mark.parametrize("defence", DEFENCES, ids=_ids(DEFENCES))
def test_the_mutation_applies_exactly_once(defence: Defence) -> None:
    text = defence.path.read_text(encoding="utf-8")
    assert text.count(defence.old) == 1, (
        f"{defence.file}: old text found {text.count(defence.old)}×"
    )
    assert defence.new != defence.old
    if defence.path.suffix == ".py":
        ast.parse(text.replace(defence.old, defence.new), defence.file)


@pytest.mark.parametrize("defence", DEFENCES, ids=_ids(DEFENCES))
def test_its_attack_tests_exist(defence: Defence) -> None:
    assert defence.tests, "no test named"
    for node in defence.tests:
        path, _, name = node.partition("::")
        assert path.startswith("tests/") and (ROOT / path).is_file(), node
        function = name.partition("[")[0]
        source = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        defined = {
            n.name
            for n in ast.walk(source)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        assert function in defined, f"{node}: no test {function} in {path}"


def test_ids_are_unique() -> None:
    repeated = [i for i, n in Counter(_ids(DEFENCES)).items() if n > 1]
    assert not repeated


def test_every_entry_names_one_row_of_trust_md() -> None:
    rows = attack_rows()
    for defence in DEFENCES:
        matching = [r for r in rows if r.attack.startswith(defence.row)]
        assert len(matching) == 1, f"{defence.id}: {len(matching)} rows begin {defence.row!r}"
        [row] = matching
        assert defence.column in (row.columns or ("",)), (
            f"{defence.id}: column {defence.column!r}, the row claims {row.columns}"
        )


def test_every_defence_trust_md_claims_has_an_entry() -> None:
    covered = {(r, d.column) for d in DEFENCES for r in attack_rows() if r.attack.startswith(d.row)}
    missing = [
        f"{row.attack[:70]!r}" + (f" ({column})" if column else "")
        for row in attack_rows()
        for column in row.columns or ("",)
        if (row, column) not in covered
    ]
    assert not missing, "rows of docs/guides/trust.md without a defence in defences.toml:\n" + (
        "\n".join(missing)
    )


def test_the_rows_are_read_from_every_attack_table() -> None:
    """The parser still finds the tables (a renamed header would hide every row)."""
    tables = Counter(row.table for row in attack_rows())
    assert set(tables) >= {"Out of the agent's reach", "An attested insider", "Measured coverage"}
    assert sum(tables.values()) >= 50
