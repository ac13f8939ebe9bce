"""The files that let people reuse and cite the project agree with each other and with the
code: one licence and one version everywhere, a references page whose module names all
exist, and benchmarks and scripts that import only what the package has (so none of them
drifts silently when a module is renamed or removed)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import yaml

from secmas import __version__

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("000", "001", "002", "003", "004")


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_licence_is_apache_2_and_declared_the_same_everywhere() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert _project()["license"] == citation["license"] == "Apache-2.0"


def test_citation_names_this_version_and_every_source() -> None:
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    assert citation["version"] == _project()["version"]
    assert len(citation["references"]) == len(SOURCES)
    for reference in citation["references"]:
        assert reference["title"] and reference["authors"]


def test_the_package_says_the_version_pyproject_gives() -> None:
    assert __version__ == _project()["version"]


def test_the_changelog_names_the_coming_version() -> None:
    assert f"[Unreleased] ({_project()['version']})" in (ROOT / "CHANGELOG.md").read_text()


def test_the_references_page_has_each_source_and_only_modules_that_exist() -> None:
    page = (ROOT / "docs" / "references.md").read_text()
    for number in SOURCES:
        assert f"## [{number}]" in page
    modules = set(re.findall(r"`(secmas(?:\.\w+)+)`", page))
    assert len(modules) > 50
    missing = [m for m in sorted(modules) if not _module_exists(m)]
    assert not missing
    paths = set(re.findall(r"`((?:src|benchmarks)/[\w./]+)`", page))
    assert paths
    assert not [p for p in sorted(paths) if not (ROOT / p).exists()]


def _module_exists(name: str) -> bool:
    where = ROOT / "src" / Path(*name.split("."))
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def test_benchmarks_and_scripts_import_only_what_the_package_has() -> None:
    """Every `from secmas… import name` of a benchmark or script names a module that exists
    and a submodule or top-level name of it. Benchmarks run by hand, not in the suite: a
    refactoring that removes what one imports would otherwise go unnoticed."""
    files = sorted((ROOT / "benchmarks").rglob("*.py")) + sorted((ROOT / "scripts").rglob("*.py"))
    assert files
    broken = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("secmas"):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if not _module_exists(node.module):
                    broken.append(f"{where} {node.module}")
                    continue
                defined = _top_level_names(node.module)
                for alias in node.names:
                    if alias.name not in defined and not _module_exists(
                        f"{node.module}.{alias.name}"
                    ):
                        broken.append(f"{where} {node.module}.{alias.name}")
    assert not broken


def _top_level_names(module: str) -> set[str]:
    where = ROOT / "src" / Path(*module.split("."))
    source = (
        where.with_suffix(".py") if where.with_suffix(".py").is_file() else where / "__init__.py"
    )
    names: set[str] = set()
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names
