"""A Python agent's runtime measurement: live code of the modules it imported, code
compiled from the file for those it did not, and every file as it is now."""

from __future__ import annotations

import importlib
import itertools
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.image import RuntimeImage, reference_measurement
from secmas.trust.wrap import wrap

USED = "def act(x):\n    return x + 1\n"
UNUSED = "def spare(x):\n    return x * 2\n\n\nclass Tool:\n    def run(self):\n        return 3\n"

_packages = itertools.count()


def image(tmp_path: Path) -> tuple[RuntimeImage, str]:
    """A fresh package `name` with modules `used` (imported, as a running agent would)
    and `unused` (never imported), wrapped; its runtime image."""
    name = f"image_agent_{next(_packages)}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "used.py").write_text(USED)
    (root / "unused.py").write_text(UNUSED)
    sys.path.insert(0, str(tmp_path))
    importlib.import_module(f"{name}.used")
    return RuntimeImage.of(wrap(root, Ed25519PrivateKey.generate()), root), name


@pytest.fixture
def agent(tmp_path: Path) -> tuple[RuntimeImage, str]:
    return image(tmp_path)


def test_a_genuine_agent_matches_without_importing_every_module(
    agent: tuple[RuntimeImage, str],
) -> None:
    runtime, name = agent
    reference = reference_measurement(wrap(runtime.root, Ed25519PrivateKey.generate()))
    assert runtime.measure().differing(reference) == []
    assert f"{name}.unused" not in sys.modules
    assert runtime.measure().root == reference.root  # again, from the cache


def test_an_unloaded_module_changed_on_disk_differs_in_code_and_file(
    agent: tuple[RuntimeImage, str],
) -> None:
    runtime, name = agent
    reference = runtime.measure()
    (runtime.root / "unused.py").write_text(UNUSED.replace("x * 2", "x * 3"))
    assert runtime.measure().differing(reference) == [
        f"code:{name}.unused",
        f"file:{name}.unused",
    ]


def test_a_module_imported_later_is_measured_live(agent: tuple[RuntimeImage, str]) -> None:
    runtime, name = agent
    reference = runtime.measure()
    module = importlib.import_module(f"{name}.unused")
    assert runtime.measure().differing(reference) == []
    module.Tool.run.__code__ = (lambda self: 4).__code__  # an in-memory patch
    assert runtime.measure().differing(reference) == [
        f"bind:{name}.unused",
        f"code:{name}.unused",
    ]


def test_a_patch_made_after_warming_is_still_caught(agent: tuple[RuntimeImage, str]) -> None:
    """Warm caches cost what changed, never hide it."""
    runtime, name = agent
    reference = runtime.measure()
    runtime.warm()
    module = sys.modules[f"{name}.used"]
    module.act.__code__ = (lambda x: x).__code__
    assert runtime.measure().differing(reference) == [f"code:{name}.used"]


def test_a_module_still_being_imported_is_measured_from_its_file(
    agent: tuple[RuntimeImage, str],
) -> None:
    runtime, name = agent
    reference = runtime.measure()
    half = ModuleType(f"{name}.unused")  # its body has not bound `spare` or `Tool` yet
    half.__spec__ = SimpleNamespace(_initializing=True)  # type: ignore[assignment]
    modules = {**sys.modules, f"{name}.unused": half}
    assert runtime.measure(modules).differing(reference) == []
    half.__spec__ = SimpleNamespace(_initializing=False)  # type: ignore[assignment]
    assert runtime.measure(modules).differing(reference) == [f"code:{name}.unused"]


@pytest.mark.parametrize("damage", ["not python (", None])
def test_an_unloaded_module_that_is_gone_or_broken_never_matches(
    agent: tuple[RuntimeImage, str], damage: str | None
) -> None:
    runtime, name = agent
    reference = runtime.measure()
    path = runtime.root / "unused.py"
    if damage is None:
        path.unlink()
    else:
        path.write_text(damage)
    measured = dict(runtime.measure().parts)
    assert measured[f"code:{name}.unused"] == bytes(32)
    assert runtime.measure().differing(reference) == [
        f"code:{name}.unused",
        f"file:{name}.unused",
    ]


class Watched:
    """An agent object (weakly referenced, as agents are)."""


def test_an_agents_copy_of_the_image_shares_what_the_image_keeps(
    agent: tuple[RuntimeImage, str],
) -> None:
    # Each agent of a process measures through a copy that watches its own objects: the
    # copies must share the kept digests (or each would examine every module once more)
    # and the lock that guards them.
    runtime, _ = agent
    original = runtime.measure()
    own = replace(runtime, watched=[])
    watched = Watched()
    own.watch(watched)
    assert (own.live, own.bindings, own.lock) == (runtime.live, runtime.bindings, runtime.lock)
    assert own.measure().root == original.root
