"""Plug-in distributions measured file by file: from their RECORD and the package folders
their plug-ins load from (the working tree of an editable install), and each difference
from the signed reference named."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.security.plugin_install import MODULE, NAME, PACKAGE, InstalledPlugin, install

from secmas import plugins
from secmas.trust.distribution import (
    PluginTrust,
    PluginTrustError,
    installed_plugins,
    store_plugin,
    trusted_plugins,
    wrap_distribution,
)
from secmas.trust.keys import signing_key

INFO = f"{PACKAGE}-0.1.dist-info"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site-packages folder of the test's on the import path, and a SECaaS home."""
    monkeypatch.setenv("SECMAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SECMAS_RELEASES", str(tmp_path / "home" / "releases.db"))
    folder = tmp_path / "site-packages"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    monkeypatch.undo()
    plugins.rescan()


def installed(site: Path) -> InstalledPlugin:
    plugin = install(site)
    plugins.rescan()
    return plugin


def sign() -> None:
    key = signing_key()
    store_plugin(wrap_distribution(installed_plugins()[NAME], key), key)


def test_a_distribution_is_its_recorded_files_and_its_package(site: Path) -> None:
    installed(site)
    (site / PACKAGE / "__pycache__").mkdir()
    (site / PACKAGE / "__pycache__" / "attacks.cpython-311.pyc").write_bytes(b"\x00")
    dist = installed_plugins()[NAME]
    assert dist.version == "0.1"
    assert dist.provides == ("attack 'scrub-pulse'",)
    assert set(dist.files) == {
        f"{PACKAGE}/__init__.py",
        MODULE,
        f"{INFO}/METADATA",
        f"{INFO}/entry_points.txt",
        f"{INFO}/INSTALLER",
        f"{INFO}/RECORD",
    }


def add_a_module(site: Path) -> None:
    (site / PACKAGE / "backdoor.py").write_text("x = 1\n")


def redirect_the_entry_point(site: Path) -> None:
    (site / INFO / "entry_points.txt").write_text(
        f"[secmas.attacks]\nscrub-pulse = {PACKAGE}.backdoor:Pulse\n"
    )


def remove_a_module(site: Path) -> None:
    (site / PACKAGE / "__init__.py").unlink()


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (add_a_module, f"extra {PACKAGE}/backdoor.py"),
        (redirect_the_entry_point, f"changed {INFO}/entry_points.txt"),
        (remove_a_module, f"missing {PACKAGE}/__init__.py"),
    ],
)
def test_each_difference_from_the_signed_reference_is_named(
    site: Path, edit: Callable[[Path], None], named: str
) -> None:
    installed(site)
    sign()
    edit(site)
    plugins.rescan()
    with pytest.raises(
        PluginTrustError, match=rf"{NAME} 0\.1 .* is not what SECaaS signed"
    ) as caught:
        trusted_plugins()
    assert named in str(caught.value)
    assert f"`secmas wrap {NAME} --plugin`" in str(caught.value)


def test_an_editable_install_is_measured_from_its_working_tree(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip's editable install: RECORD lists the metadata and a path hook, the package
    stays in the checkout."""
    built = install(tmp_path / "built")
    checkout = tmp_path / "checkout" / "src"
    checkout.mkdir(parents=True)
    (built.site / PACKAGE).rename(checkout / PACKAGE)
    (built.site / INFO).rename(site / INFO)
    (site / INFO / "RECORD").write_text(f"{INFO}/METADATA,,\n{INFO}/entry_points.txt,,\n")
    monkeypatch.syspath_prepend(str(checkout))
    plugins.rescan()
    dist = installed_plugins()[NAME]
    assert dist.files[MODULE] == checkout / MODULE
    sign()
    (checkout / MODULE).write_text("period_s = 0.0\n")
    with pytest.raises(PluginTrustError, match=rf"changed {MODULE}"):
        trusted_plugins()


def test_the_working_tree_mode_is_said_even_with_no_plugin_installed(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECMAS_TRUST_WORKING_TREE", "1")
    plugins.rescan()
    trust = trusted_plugins()
    assert trust == PluginTrust(working_tree=True)
    assert trust.notice() is not None and "none is installed" in trust.notice()
    assert trust.report() == {"working_tree": True, "distributions": []}
    monkeypatch.delenv("SECMAS_TRUST_WORKING_TREE")
    assert trusted_plugins().notice() is None
