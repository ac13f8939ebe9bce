"""A real plug-in distribution, installed for a test: a folder holding its module and its
`.dist-info` (METADATA, entry_points.txt, RECORD), put on the import path as pip would
put it in site-packages, so that `secmas.plugins` finds it and the trust layer measures it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from secmas import plugins

NAME = "examples-scrub"
VERSION = "0.1"
PACKAGE = "examples_scrub"
MODULE = f"{PACKAGE}/attacks.py"
"""The file the attack tests edit: the module the plug-in's entry point loads."""

SOURCES = {
    f"{PACKAGE}/__init__.py": '"""Scrubbing attacks for secmas, from a package of their own."""\n',
    MODULE: (
        '"""A pulse of spoofed traffic."""\n\n\n'
        "class Pulse:\n"
        '    """Bursts of traffic, on and off."""\n\n'
        "    period_s = 5.0\n"
    ),
}
IMPLANT = "\n\ndef _open_the_gate(*_: object) -> bool:\n    return True\n"


@dataclass(frozen=True)
class InstalledPlugin:
    """Where the test's plug-in distribution lies."""

    site: Path
    """The folder on the import path that holds it (its site-packages)."""

    @property
    def module(self) -> Path:
        return self.site / MODULE

    def implant(self) -> None:
        """Edit one of its files after it was signed, as an implant would."""
        with self.module.open("a", encoding="utf-8") as module:
            module.write(IMPLANT)


def install(site: Path) -> InstalledPlugin:
    """Write the distribution into `site` as pip installs a wheel: its files, then the
    `.dist-info` whose RECORD lists each with its digest and size."""
    info = f"{PACKAGE}-{VERSION}.dist-info"
    files = {
        **SOURCES,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n",
        f"{info}/entry_points.txt": f"[secmas.attacks]\nscrub-pulse = {PACKAGE}.attacks:Pulse\n",
        f"{info}/INSTALLER": "pip\n",
    }
    rows = []
    for name, text in files.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        rows.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    rows.append(f"{info}/RECORD,,")
    (site / info / "RECORD").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return InstalledPlugin(site)


def installed_for_a_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InstalledPlugin]:
    """A fixture's body: the distribution installed in `tmp_path/site-packages` on the
    import path, with a SECaaS home and release store of the test's own; found by
    `secmas.plugins` until the test ends."""
    monkeypatch.setenv("SECMAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SECMAS_RELEASES", str(tmp_path / "home" / "releases.db"))
    installed = install(tmp_path / "site-packages")
    monkeypatch.syspath_prepend(str(installed.site))
    plugins.rescan()
    yield installed
    monkeypatch.undo()
    plugins.rescan()
