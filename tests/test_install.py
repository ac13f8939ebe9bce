"""The lean install: `pip install secmas` without extras runs `secmas demo`,
and a command that needs an extra says which in one line, exit 2, without a traceback.
Each extra is enough for what docs/installation.md says it is for: those commands run
with the core and that extra alone (tests/e2e/test_tutorial.py runs the tutorial so).

The lean environment is this one with every module that only the extras bring hidden: the
installed distributions outside the transitive closure of pyproject's core dependencies
(and of the extras a test names; their metadata says what each requires), and Debian's
mininet. A path entry finder in the command's own process finds none of them, as if they
were not installed; no start-up hook is used and nothing of the standard library is
patched, since the external measurer of a secure run rightly refuses a process that has
either.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from secmas.api.scenarios import embedded_path
from secmas.console import command_path, message
from secmas.extras import EXTRA_MODULES, MissingExtra, missing_extra, require

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]
ALWAYS = {"pip", "setuptools", "wheel", "secmas"}
"""In every venv (Python 3.11's venv brings pip and setuptools), or the project itself."""

RUNNER = """
import json, sys

HIDDEN = frozenset(json.loads(sys.argv[1]))
FILES = next(h for h in sys.path_hooks if "FileFinder" in getattr(h, "__name__", ""))


class Lean:
    # a path entry finder for site-packages that finds no hidden module, as if absent
    def __init__(self, path):
        if "-packages" not in path:
            raise ImportError(path)
        self.inner = FILES(path)

    def find_spec(self, name, target=None):
        if name.partition(".")[0] in HIDDEN:
            return None
        return self.inner.find_spec(name, target)

    def invalidate_caches(self):
        self.inner.invalidate_caches()

    def iter_modules(self, prefix=""):
        # what pkgutil walks (stix2 finds its object types so)
        import pkgutil

        for name, package in pkgutil.iter_importer_modules(self.inner, prefix):
            if name.removeprefix(prefix) not in HIDDEN:
                yield name, package


sys.path_hooks.insert(0, Lean)
sys.path_importer_cache.clear()
sys.argv = ["secmas", *sys.argv[2:]]
from secmas.console import run

run()
"""


def _requirement_names(texts: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(t).name) for t in texts}


def extra_requirements(extra: str) -> list[str]:
    """The requirements `extra` installs, with the project's own extras it names expanded
    (`emulated` is `secmas[overlay]`)."""
    found: list[str] = []
    for text in EXTRAS[extra]:
        requirement = Requirement(text)
        if canonicalize_name(requirement.name) == "secmas":
            found += [r for named in requirement.extras for r in extra_requirements(named)]
        else:
            found.append(text)
    return found


@cache
def closure(requirements: tuple[str, ...]) -> frozenset[str]:
    """The distributions pip installs for `requirements`: those and, as their installed
    metadata says, what they require (with the extras they ask for)."""
    wanted: dict[str, set[str]] = {}
    todo = [Requirement(text) for text in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        extras = set(requirement.extras)
        if name in wanted and extras <= wanted[name]:
            continue
        wanted.setdefault(name, set()).update(extras)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            sub = Requirement(text)
            if sub.marker is None or any(
                sub.marker.evaluate({"extra": extra}) for extra in wanted[name] or {""}
            ):
                todo.append(sub)
    return frozenset(wanted)


def core_closure() -> frozenset[str]:
    """The distributions `pip install secmas` installs."""
    return closure(tuple(PROJECT["dependencies"]))


@cache
def hidden_modules(extras: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The top-level modules of the installed distributions an install of the core and
    `extras` would not have (Debian's mininet comes with `emulated`)."""
    wanted = [r for extra in extras for r in extra_requirements(extra)]
    kept = closure((*PROJECT["dependencies"], *wanted)) | ALWAYS
    providers = metadata.packages_distributions()
    hidden = set() if "emulated" in extras else {"mininet"}
    for module, distributions in providers.items():
        names = {canonicalize_name(d) for d in distributions}
        if module.isidentifier() and not names & kept:
            hidden.add(module)
    return tuple(sorted(hidden))


def lean_command(*args: str, extras: tuple[str, ...] = ()) -> list[str]:
    """The command line of `secmas ARGS` as an install of the core and `extras` (none: the
    lean one) runs it."""
    return [sys.executable, "-c", RUNNER, json.dumps(hidden_modules(extras)), *args]


def lean(*args: str, cwd: Path, extras: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`secmas ARGS` as an install of the core and `extras` runs it, to its end."""
    command = lean_command(*args, extras=extras)
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_core_dependencies_bring_none_of_the_extras() -> None:
    core = core_closure()
    for extra in ("ml", "ui", "cti", "overlay"):
        assert not _requirement_names(EXTRAS[extra]) & core, extra
    assert not (_requirement_names(EXTRAS["test"]) - {"secmas"}) & core
    assert {"py-evm", "eth-abi", "numpy", "matplotlib"} <= core
    # One EVM: the in-process chain and the served one are the same py-evm node.
    assert not {"web3", "eth-tester", "pyrevm"} & core


def test_the_extras_chain_up_to_what_the_suite_needs() -> None:
    assert "torch==2.13.0" in EXTRAS["ml"]  # any other version downloads a CUDA build
    assert EXTRAS["all"] == ["secmas[ml,ui,cti,emulated,tpm]"]
    assert EXTRAS["emulated"] == ["secmas[overlay]"]
    assert "secmas[all]" in EXTRAS["test"]
    for extra, modules in EXTRA_MODULES.items():
        assert extra in EXTRAS, extra
        assert modules


def test_the_hidden_modules_are_the_extras() -> None:
    """The lean environment hides every extra's modules that are installed here (else the
    lean runs below would prove nothing), and none of the core's."""
    hidden = set(hidden_modules())
    installed = set(metadata.packages_distributions())
    for modules in EXTRA_MODULES.values():
        assert set(modules) & installed <= hidden
    assert not {"eth", "eth_abi", "numpy", "matplotlib", "typer", "cvss"} & hidden


def test_a_missing_extra_reads_as_one_line_naming_it() -> None:
    missing = missing_extra(ModuleNotFoundError("No module named 'sklearn'", name="sklearn.svm"))
    assert missing is not None and missing.extras == ("ml",)
    assert message(missing, "secmas detect fit") == (
        "secmas detect fit needs the 'ml' extra (sklearn is not installed): "
        "pip install 'secmas[ml]' (in a checkout: ./scripts/setup --ml)"
    )
    assert missing_extra(ModuleNotFoundError("No module named 'nope'", name="nope")) is None
    wrapped = RuntimeError("while loading")
    wrapped.__cause__ = ModuleNotFoundError(name="fastapi")
    assert (found := missing_extra(wrapped)) is not None and found.extras == ("ui",)
    several = MissingExtra(["cti", "ml"], ["stix2", "medallion", "taxii2client", "torch"], "x")
    assert message(several, "secmas demo") == (
        "secmas demo: x needs the 'cti' and 'ml' extras (stix2, medallion, taxii2client and "
        "1 more are not installed): pip install 'secmas[cti,ml]' (in a checkout: "
        "./scripts/setup --cti --ml)"
    )
    require(["ml"], "installed here")  # the test environment has every extra
    assert command_path(["detect", "fit", "--csv", "x"]) == "secmas detect fit"
    assert command_path(["--version"]) == "secmas"


def test_scripts_setup_offers_each_extra() -> None:
    done = subprocess.run(
        [str(ROOT / "scripts" / "setup"), "--help"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    for flag in ("--ml", "--ui", "--cti", "--emulated", "--all", "--test", "--bench"):
        assert re.search(rf"^  {flag} ", done.stdout, re.M), flag
    wrong = subprocess.run(
        [str(ROOT / "scripts" / "setup"), "--nope"], capture_output=True, text=True, timeout=30
    )
    assert wrong.returncode == 2 and "--help" in wrong.stderr


def test_the_lean_install_runs_the_demo(tmp_path: Path) -> None:
    """`secmas --version`, `scenario validate` on the embedded scenario and the whole secure
    in-process demo, with every extra's module hidden."""
    version = lean("--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"secmas {PROJECT['version']}"
    valid = lean("scenario", "validate", str(embedded_path()), "--json", cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert json.loads(valid.stdout)["valid"] is True
    demo = lean("demo", "--out", str(tmp_path / "run"), "--quiet", cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["acceptance"]["passed"] is True
    with (tmp_path / "run" / "attestation.csv").open(newline="") as file:
        results = [row["result"] for row in csv.DictReader(file)]
    assert len(results) >= 6 and set(results) == {"pass"}  # every agent attested


@pytest.mark.parametrize(
    ("args", "extras"),
    [
        (("detect", "fit", "--csv", "{csv}", "-o", "{out}/model.pt"), "'ml' extra"),
        (("demo", "--detect", "--out", "{out}/run"), "'ml' extra"),
        (("demo", "--scenario", "adaptive-defence", "--out", "{out}/run"), "'cti' and 'ml'"),
        (("ui", "--runs", "{out}"), "'ui' extra"),
    ],
)
def test_a_command_that_needs_an_extra_names_it(
    tmp_path: Path, args: tuple[str, ...], extras: str
) -> None:
    data = tmp_path / "normal.csv"
    data.write_text("t,cpu\n" + "".join(f"{i},{i % 7}\n" for i in range(40)))
    filled = [a.format(csv=data, out=tmp_path) for a in args]
    done = lean(*filled, cwd=tmp_path)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    text = " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert f"secmas {args[0]}" in text and extras in text and "pip install 'secmas[" in text
    assert not (tmp_path / "run").exists()  # refused before any work


@pytest.mark.parametrize(
    ("extras", "args"),
    [
        (("ml",), ("detect", "fit", "--csv", "{csv}", "-o", "{out}/model.pt")),
        (("ml",), ("demo", "--detect", "--out", "{out}/run", "--quiet")),
        (
            ("cti", "ml"),
            ("demo", "--scenario", "adaptive-defence", "--out", "{out}/run", "--quiet"),
        ),
        (
            ("cti",),
            (
                *("cti", "share", "{cti}/edge-a.json", "-o", "{out}/bundle.json"),
                *("--taxii", "local", "--sensitivity", "{cti}/sensitivity.yaml"),
                *("--necessity", "{cti}/necessity.yaml"),
            ),
        ),
    ],
)
def test_each_documented_command_runs_with_only_the_extras_named_for_it(
    tmp_path: Path, extras: tuple[str, ...], args: tuple[str, ...]
) -> None:
    """docs/installation.md's table: what each option is for runs with the core and that
    option's extras alone."""
    data = tmp_path / "normal.csv"
    data.write_text("t,cpu\n" + "".join(f"{i},{i % 7}\n" for i in range(40)))
    filled = (a.format(csv=data, out=tmp_path, cti=ROOT / "scenarios" / "cti") for a in args)
    done = lean(*filled, cwd=tmp_path, extras=extras)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_the_ui_serves_with_only_the_ui_extra(tmp_path: Path) -> None:
    """`secmas ui` with the core and the `ui` extra alone: it serves, then stops on SIGINT."""
    command = lean_command("ui", "--runs", str(tmp_path), "--port", "0", extras=("ui",))
    server = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("serving 0 run(s)"), first + server.stdout.read()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
