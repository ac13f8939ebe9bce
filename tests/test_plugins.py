"""Finding and loading plug-ins through entry points, with distributions installed for
the test as pip installs them (a `.dist-info` folder on the import path)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from secmas import plugins
from secmas.plugins import PluginError, plugin, rescan


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on the import path into which a test installs distributions; once the
    test ends, the modules imported from it are forgotten too (another test may install
    a module of the same name)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    rescan()
    yield tmp_path
    forget_modules(tmp_path)
    rescan()


def forget_modules(folder: Path) -> None:
    """Forget the modules imported from `folder`: a later test may install another module
    of the same name, which Python would otherwise not import again."""
    for name, module in list(sys.modules.items()):
        if Path(getattr(module, "__file__", None) or "/").is_relative_to(folder):
            del sys.modules[name]


def install(site: Path, name: str, entries: str, module: str = "") -> None:
    """Install distribution `name` 1.0 in `site`: its metadata, its entry points and,
    when given, the text of its module `<name>_mod`."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entries)
    if module:
        (site / f"{name}_mod.py").write_text(module)
    rescan()


def test_an_installed_plug_in_is_found_named_and_loaded(site: Path) -> None:
    install(site, "pulse", "[secmas.attacks]\npulse = pulse_mod:Pulse\n", "class Pulse: ...\n")
    found = plugin("secmas.attacks", "pulse")
    assert (found.distribution, found.version, found.target) == ("pulse", "1.0", "pulse_mod:Pulse")
    assert found.load(object).__name__ == "Pulse"
    assert "pulse" in plugins.distributions()
    assert found.where() == "attack 'pulse' (pulse 1.0, pulse_mod:Pulse)"


def test_a_missing_plug_in_names_the_installed_ones(site: Path) -> None:
    install(site, "pulse", "[secmas.attacks]\npulse = pulse_mod:Pulse\n")
    with pytest.raises(PluginError, match=r"no secmas.attacks plug-in 'ping'.*pulse"):
        plugin("secmas.attacks", "ping")
    with pytest.raises(PluginError, match=r"no plug-in group 'secmas\.nope'"):
        plugins.plugins("secmas.nope")


def test_two_distributions_claiming_one_name_are_both_named(site: Path) -> None:
    install(site, "one", "[secmas.detectors]\nzscore = one_mod:Z\n")
    install(site, "two", "[secmas.detectors]\nzscore = two_mod:Z\n")
    with pytest.raises(PluginError, match=r"provided twice: by (one|two) .* and by (one|two)"):
        plugins.plugins("secmas.detectors")


def test_a_badly_named_plug_in_is_refused(site: Path) -> None:
    install(site, "bad", "[secmas.bids]\nMy-Bid = bad_mod:bid\n")
    with pytest.raises(PluginError, match=r"bid function 'My-Bid' \(bad 1\.0"):
        plugins.plugins("secmas.bids")


def test_a_plug_in_that_fails_to_import_or_is_the_wrong_kind_is_named(site: Path) -> None:
    install(site, "broken", "[secmas.vnfs]\nscrub = broken_mod:Scrub\n", "raise ImportError('x')\n")
    with pytest.raises(PluginError, match=r"VNF 'scrub' \(broken 1.0.*cannot be loaded: x"):
        plugin("secmas.vnfs", "scrub").load()
    install(site, "wrong", "[secmas.remedies]\nheal = wrong_mod:heal\n", "heal = 3\n")
    with pytest.raises(
        PluginError, match=r"remedy 'heal' \(wrong 1.0, wrong_mod:heal\): is no str"
    ):
        plugin("secmas.remedies", "heal").load(str)
