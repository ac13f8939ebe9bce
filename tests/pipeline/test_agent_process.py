"""What an agent process measures of itself: the package it runs, and the plug-in
distributions installed beside it, each against the reference SECaaS signed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.security.plugin_install import NAME, InstalledPlugin, installed_for_a_test

from secmas.pipeline.agent_process import self_image
from secmas.pipeline.images import secmas_image
from secmas.trust.distribution import installed_plugins, store_plugin, wrap_distribution
from secmas.trust.keys import signing_key
from secmas.trust.repository import ReferenceRepository


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstalledPlugin]:
    yield from installed_for_a_test(tmp_path, monkeypatch)


def test_an_agent_process_measures_the_plugins_installed_beside_it(
    plugin: InstalledPlugin,
) -> None:
    key = signing_key()
    store_plugin(wrap_distribution(installed_plugins()[NAME], key), key)
    wrapped = secmas_image(Ed25519PrivateKey.generate(), ReferenceRepository())
    own = self_image()
    part = f"plugin:{NAME}"
    assert dict(own.measure().parts)[part] == dict(wrapped.reference.parts)[part]
    plugin.implant()
    assert dict(own.measure().parts)[part] != dict(wrapped.reference.parts)[part]
