"""The registry of defences (`defences.toml`): for each row of the attack tables in
docs/guides/trust.md's "Security" section, the smallest source edit that removes the
defence the row names and the attack tests that must then fail. `scripts/defence-check`
applies each edit in turn and runs its tests; `test_defence_registry.py` checks, without
running anything, that every edit still applies and every row has an entry, so that a
defence cannot lose its test unnoticed.

A mutation is an exact text replacement in one file: when the code it names moves, the
registry test fails instead of the check silently mutating nothing."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = Path(__file__).with_name("defences.toml")
TRUST = ROOT / "docs" / "guides" / "trust.md"
OUTCOMES = ("caught", "refused")
"""Words of a "Measured coverage" cell that claim a defence (not "fooled", "not seen")."""


@dataclass(frozen=True)
class Row:
    """An attack row of trust.md: its table, its attack cell, and the columns whose cell
    claims a defence (one per measurement in "Measured coverage", else none)."""

    table: str
    attack: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Defence:
    """One defence: `old` replaced by `new` in `file` turns it off; `tests` (pytest node
    ids) must then fail. `build` is a command that makes the edit take effect (the
    contracts' compiler), run after the edit and again after the restore."""

    id: str
    row: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    column: str = ""
    build: str = ""

    @property
    def path(self) -> Path:
        return ROOT / self.file

    def test_files(self) -> set[str]:
        return {node.split("::")[0] for node in self.tests}


def load(path: Path = REGISTRY) -> list[Defence]:
    """Every entry of the registry, in its order; a malformed entry is named."""
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("defence", [])
    defences = []
    for i, entry in enumerate(entries):
        try:
            defences.append(Defence(**{**entry, "tests": tuple(entry["tests"])}))
        except (KeyError, TypeError) as exc:
            name = entry.get("id", f"entry {i + 1}")
            raise ValueError(f"{path.name}: {name}: {exc}") from exc
    return defences


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row; a `|` inside backticks does not split."""
    cells, cell, code = [], "", False
    for char in line.strip().strip("|"):
        if char == "`":
            code = not code
        if char == "|" and not code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
    return [*cells, cell.strip()]


def attack_rows(text: str | None = None) -> list[Row]:
    """The rows of every table in the Security section whose first header cell begins
    with "attack", with the heading they stand under."""
    text = TRUST.read_text(encoding="utf-8") if text is None else text
    section = text.split("\n## Security\n", 1)[1].split("\n## ", 1)[0]
    rows: list[Row] = []
    title, header = "", None
    for line in section.splitlines():
        if not line.startswith("|"):
            header = None
            if line.startswith("#"):
                title = line.lstrip("#").strip()
            continue
        cells = _cells(line)
        if header is None:
            header = cells
        elif not re.fullmatch(r"[-: ]+", cells[0]) and header[0].startswith("attack"):
            claimed = tuple(
                name
                for name, cell in zip(header[1:], cells[1:], strict=False)
                if any(cell.strip("*").startswith(word) for word in OUTCOMES)
            )
            if len(header) == 3:
                rows.append(Row(title, cells[0], ()))
            elif claimed:
                rows.append(Row(title, cells[0], claimed))
    return rows
