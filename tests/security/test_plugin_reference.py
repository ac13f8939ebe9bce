"""Plug-ins are trusted as the package is: signed once, checked at every run.

The attack: a plug-in distribution (entry points in a `secmas.*` group) is code every agent
runs, yet SECaaS signed and checked only the `secmas` package, so an implant written into
an installed plug-in ran in every agent of a secure run unnoticed. Here a real plug-in
distribution is installed for the test (its module and a `.dist-info` with METADATA,
entry_points.txt and RECORD, in a site-packages folder of the test's on the import path),
signed with `secmas wrap NAME --plugin`, and then one of its files is edited: a secure run
on the simulator must stop at steps 3–4, naming the distribution, the file and the command
that signs it again. A plug-in never signed stops the run the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.security.plugin_install import MODULE, NAME, InstalledPlugin, installed_for_a_test
from typer.testing import CliRunner

from secmas.cli.main import app
from secmas.pipeline.errors import PipelineError
from secmas.pipeline.images import WrappedImage, secmas_image
from secmas.pipeline.workflow import Workflow
from secmas.trust.distribution import WORKING_TREE_ENV
from secmas.trust.repository import ReferenceRepository

SIGN_AGAIN = f"`secmas wrap {NAME} --plugin`"

runner = CliRunner()


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstalledPlugin]:
    """The plug-in distribution installed in a site-packages folder of the test's, with a
    SECaaS home and release store of the test's own, out of the working-tree mode."""
    monkeypatch.delenv(WORKING_TREE_ENV, raising=False)
    yield from installed_for_a_test(tmp_path, monkeypatch)


def sign(plugin: InstalledPlugin) -> None:
    result = runner.invoke(app, ["wrap", NAME, "--plugin"])
    assert result.exit_code == 0, result.output


def secure_run(out: Path) -> str:
    """A secure run of the demo on the simulator; what it printed, once it failed."""
    result = runner.invoke(app, ["demo", "--seed", "1", "-o", str(out)])
    assert result.exit_code == 1, result.output
    return result.output


def steps_3_4() -> WrappedImage:
    wrap = Workflow().step(
        "3-4", lambda: secmas_image(Ed25519PrivateKey.generate(), ReferenceRepository())
    )
    return asyncio.run(wrap)


def test_a_plugin_edited_after_signing_stops_the_secure_run_at_steps_3_4(
    plugin: InstalledPlugin, tmp_path: Path
) -> None:
    sign(plugin)
    plugin.implant()
    printed = " ".join(secure_run(tmp_path / "run").split())
    assert "step 3-4" in printed
    assert f"plug-in distribution {NAME} 0.1" in printed
    assert f"changed {MODULE}" in printed
    assert SIGN_AGAIN in printed


def test_a_plugin_never_signed_stops_the_run_at_steps_3_4(plugin: InstalledPlugin) -> None:
    with pytest.raises(PipelineError, match=rf"{NAME} 0\.1 .* was never signed.*{SIGN_AGAIN}"):
        steps_3_4()


def test_a_signed_plugin_is_measured_by_its_reference(plugin: InstalledPlugin) -> None:
    sign(plugin)
    image = steps_3_4()
    (reference,) = image.plugins.references
    assert reference.distribution.name == NAME
    assert not reference.working_tree
    assert MODULE in reference.manifest.entries
    assert f"plugin:{NAME}" in dict(image.reference.parts)


def test_an_edit_after_the_check_is_seen_by_the_agents_measurement(
    plugin: InstalledPlugin,
) -> None:
    sign(plugin)
    image = steps_3_4()
    assert image.runtime.measure().differing(image.reference) == []
    plugin.implant()
    assert image.runtime.measure().differing(image.reference) == [f"plugin:{NAME}"]


def test_the_working_tree_is_trusted_only_when_asked_and_then_said(
    plugin: InstalledPlugin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sign(plugin)
    plugin.implant()
    monkeypatch.setenv(WORKING_TREE_ENV, "1")
    image = steps_3_4()
    (reference,) = image.plugins.references
    assert reference.working_tree
    assert f"{NAME} 0.1 trusted as found, unsigned" in caplog.text
    assert image.plugins.report()["working_tree"] is True
    assert image.plugins.report()["distributions"][0]["reference"] == "working tree"
