"""Python measurement: the reference from files and the runtime from live modules agree,
and in-memory patches show up by qualname."""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import FunctionType

import pytest

import secmas
from secmas.trust.codehash import code_digest
from secmas.trust.compiled import PackageError, measure_source
from secmas.trust.pycode import (
    KnownCode,
    PackageMeasurement,
    diff_packages,
    measure_files,
    measure_live,
)


def test_files_and_live_modules_give_the_same_root(agent_package) -> None:
    reference = measure_files(agent_package.path)
    agent_package.load()
    live = measure_live(reference)
    assert live.root == reference.root
    assert diff_packages(reference, live).same
    core = reference.modules[f"{agent_package.name}.core"].code
    reached = {"act", "pick", "cached", "fetch", "Colour.label", "Point.norm", "Pair.total"}
    reached |= {"Agent.level", "Agent.heavy", "Agent.make", "Agent.build", "Agent.run"}
    reached |= {"Agent.Config.setting", "Model._positive"}
    assert reached <= core.keys()
    # Generated, nested and anonymous code is not listed on its own.
    assert not {"Point.__init__", "traced.<locals>.wrapper", "<lambda>"} & core.keys()


def test_overload_stubs_are_left_out(agent_package) -> None:
    core = agent_package.load()[f"{agent_package.name}.core"]
    reference = measure_files(agent_package.path).modules[f"{agent_package.name}.core"]
    assert reference.code["pick"] == code_digest(core.pick.__code__)


def test_swapped_code_is_reported_by_qualname(agent_package) -> None:
    reference = measure_files(agent_package.path)
    core = agent_package.load()[f"{agent_package.name}.core"]
    core.f.__code__ = core.g.__code__
    diff = diff_packages(reference, measure_live(reference))
    assert diff.changed == (f"{agent_package.name}.core:f",)
    assert measure_live(reference).root != reference.root


def test_replaced_deleted_and_rewired_functions_are_reported(agent_package) -> None:
    name = f"{agent_package.name}.core"
    reference = measure_files(agent_package.path)
    core = agent_package.load()[name]
    core.act = core.g
    del core.Agent.make
    core.Agent.level = property(core.Agent.level.fget)  # the setter is gone
    core.Agent.run.__wrapped__.__code__ = core.Pair.total.__code__  # under a decorator
    diff = diff_packages(reference, measure_live(reference))
    assert diff.changed == (f"{name}:Agent.level", f"{name}:Agent.run", f"{name}:act")
    assert diff.missing == (f"{name}:Agent.make",)


def test_a_decorator_without_wraps_is_a_mismatch_not_a_crash(agent_package) -> None:
    (agent_package.path / "bare.py").write_text(
        "def deco(fn):\n    return lambda *a: fn(*a)\n\n\n@deco\ndef decorated(x):\n    return x\n"
    )
    reference = measure_files(agent_package.path)
    importlib.import_module(f"{agent_package.name}.bare")
    agent_package.load()
    diff = diff_packages(reference, measure_live(reference))
    assert diff.changed == (f"{agent_package.name}.bare:decorated",)


def test_modules_that_are_not_loaded_lack_their_functions(agent_package) -> None:
    reference = measure_files(agent_package.path)
    importlib.import_module(agent_package.name)
    diff = diff_packages(reference, measure_live(reference))
    assert f"{agent_package.name}.sub.tool:helper" in diff.missing
    assert not any(k.startswith(f"{agent_package.name}.sub:") for k in diff.missing)


def test_edits_on_disk_name_the_module_and_the_function(agent_package) -> None:
    reference = measure_files(agent_package.path)
    tool = agent_package.path / "sub" / "tool.py"
    tool.write_text(tool.read_text().replace("a + b", "a - b"))
    core = agent_package.path / "core.py"
    core.write_text("# a comment changes the file, not the code\n" + core.read_text())
    (agent_package.path / "hook.py").write_text("import os\n\nos.environ['X'] = '1'\n")
    diff = diff_packages(reference, measure_files(agent_package.path))
    name = agent_package.name
    assert diff.changed == (f"{name}.core", f"{name}.sub.tool", f"{name}.sub.tool:helper")
    assert diff.extra == (f"{name}.hook",)  # a module without functions still counts


def test_digests_do_not_depend_on_location_or_process(agent_package, tmp_path: Path) -> None:
    reference = measure_files(agent_package.path)
    moved = tmp_path / "elsewhere" / agent_package.name
    shutil.copytree(agent_package.path, moved)
    assert measure_files(moved).entries() == reference.entries()
    script = "import sys; from pathlib import Path; from secmas.trust.pycode import measure_files;"
    script += "print(measure_files(Path(sys.argv[1])).root)"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(moved)], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == reference.root, out.stderr


def test_specialised_bytecode_hashes_as_compiled(agent_package) -> None:
    core = agent_package.load()[f"{agent_package.name}.core"]
    before = code_digest(core.Point.norm.__code__)
    point = core.Point(3, -4)
    for _ in range(2000):
        point.norm()
    assert code_digest(core.Point.norm.__code__) == before


def test_entries_round_trip(agent_package) -> None:
    reference = measure_files(agent_package.path)
    again = PackageMeasurement.from_entries(reference.name, reference.entries())
    assert again.root == reference.root and again.entries() == reference.entries()


def test_unmeasurable_sources(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"bad\.py:2: not valid Python"):
        measure_source(b"x = 1\ndef (:\n", "bad.py")
    with pytest.raises(PackageError, match=r"no __init__\.py"):
        measure_files(tmp_path)


def test_secmas_measures_the_same_from_files_and_live() -> None:
    reference = measure_files(Path(secmas.__file__).parent, "secmas")
    for name in reference.modules:
        if name != "secmas.__main__":  # importing it runs the command line
            importlib.import_module(name)
    live = measure_live(reference)
    assert diff_packages(reference, live).same
    assert live.root == reference.root
    assert reference.functions > 100


def _loaded(path: Path) -> FunctionType:
    """`f` of the module in `path`, compiled as the import system does."""
    namespace: dict[str, object] = {}
    exec(compile(path.read_bytes(), str(path), "exec", dont_inherit=True), namespace)
    function = namespace["f"]
    assert isinstance(function, FunctionType)
    return function


def test_site_packages_code_is_known_only_by_its_declared_digest(tmp_path: Path) -> None:
    site = tmp_path / "lib" / "site-packages"
    site.mkdir(parents=True)
    genuine, dropped = site / "genuine.py", site / "dropped.py"
    genuine.write_text("def f():\n    return 1\n")
    dropped.write_text("def f():\n    return 2\n")
    declared = {str(genuine.resolve()): hashlib.sha256(genuine.read_bytes()).hexdigest()}
    # A root above site-packages (as the standard library's is) does not reach into it.
    known = KnownCode([tmp_path / "lib"], site=declared)
    assert _loaded(genuine).__code__ in known
    assert _loaded(dropped).__code__ not in known
    # Rewritten since the release declared it: its code is no longer known.
    genuine.write_text("def f():\n    return 3\n")
    assert _loaded(genuine).__code__ not in KnownCode([tmp_path / "lib"], site=declared)


def test_a_package_installed_in_site_packages_is_a_root_of_its_own(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "agent"
    package.mkdir(parents=True)
    (package / "core.py").write_text("def f():\n    return 1\n")
    (package.parent / "beside.py").write_text("def f():\n    return 2\n")
    known = KnownCode([package, package.parent], site={})
    assert _loaded(package / "core.py").__code__ in known
    assert _loaded(package.parent / "beside.py").__code__ not in known


def test_the_installed_site_packages_are_known_file_by_file() -> None:
    known = KnownCode.around(())
    assert not any("site-packages" in root for root in known.roots)
    assert pytest.approx.__code__ in known  # declared by pytest's RECORD, unchanged


def test_a_functions_digest_covers_the_literal_defaults_its_file_writes() -> None:
    # One code object for `f` in all three: only the defaults the module passes differ.
    written = [b"5.0", b"1e9", b"TIMEOUT"]
    digests = {
        measure_source(b"def f(x=" + d + b", *, y='a'):\n    return x\n", "m.py")["f"]
        for d in written
    }
    assert len(digests) == 3
