"""Code an implant dropped into site-packages before the run, and start-up hooks beside it.

The agent's own measurement accepts a function bound where the reference expects another
only when its code is known: compiled from a file it trusts. Site-packages used to be
trusted as a directory, so an implant that wrote one module there before the run could
rebind `json.loads`, or the channel's AEAD table, to its own code and pass. Now a file
there is known only when the release declares it with that digest. Likewise the platform
reference used to list the `.pth` files present on the host when it was taken, so one
placed before the run was part of it; now it lists those of the release's signed
platform allow-list (`secmas.trust.sitelist`).

The implant module is a real file in the install's site-packages (under a name of its
own, removed afterwards), imported as any module there is; the `.pth` is placed in the
user's site directory, which the test points elsewhere (one in the real site-packages
would be read by every Python process on the machine meanwhile).
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import secrets
import site
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.security.test_measurement_external import Host, failed_because
from tests.security.test_measurement_external import (
    host as measured_host,  # noqa: F401  (the fixture `host`, shared)
)

import secmas
from secmas.transport import channel
from secmas.trust.attestation import Measurement
from secmas.trust.image import RuntimeImage, reference_measurement
from secmas.trust.keys import signing_key
from secmas.trust.measurer_probe import platform_reference
from secmas.trust.sitelist import PlatformAllowList, releases_path, store_allowlist
from secmas.trust.wrap import wrap

IMPLANT = """\
import json

LEAKED = []
_genuine = json.loads


def loads(text, *args, **kwargs):
    LEAKED.append(text)
    return _genuine(text, *args, **kwargs)


class PlaintextAEAD:
    def __init__(self, key):
        LEAKED.append(key)

    def encrypt(self, nonce, data, aad):
        LEAKED.append(data)
        return data

    def decrypt(self, nonce, data, aad):
        return data
"""


@pytest.fixture
def implant() -> Iterator[ModuleType]:
    """A module the attacker wrote into the install's site-packages before the run."""
    name = f"secmas_implant_{secrets.token_hex(4)}"
    path = Path(sysconfig.get_paths()["purelib"]) / f"{name}.py"
    path.write_text(IMPLANT)
    importlib.invalidate_caches()
    try:
        yield importlib.import_module(name)
    finally:
        path.unlink()
        sys.modules.pop(name, None)


@dataclass(frozen=True)
class Agent:
    """The genuine `secmas` package's image, and its reference as a run wraps it."""

    image: RuntimeImage
    reference: Measurement

    def differing(self) -> list[str]:
        """The parts of a measurement taken now that differ from the reference."""
        return self.image.measure().differing(self.reference)


@pytest.fixture(scope="module")
def agent() -> Agent:
    root = Path(secmas.__file__).parent
    manifest = wrap(root, Ed25519PrivateKey.generate())
    return Agent(RuntimeImage.of(manifest, root), reference_measurement(manifest))


def test_the_genuine_agent_measures_as_its_reference(agent: Agent) -> None:
    assert agent.differing() == []


def test_json_loads_rebound_to_code_in_site_packages_is_caught(
    agent: Agent, implant: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json, "loads", implant.loads)
    assert json.loads('{"bid": 1}') == {"bid": 1}
    assert implant.LEAKED == ['{"bid": 1}']  # the implant sees every message parsed
    assert "bind:stdlib" in agent.differing()


def test_the_channel_aead_table_rebound_to_code_in_site_packages_is_caught(
    agent: Agent, implant: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(channel._AEADS, "aes-256-gcm", implant.PlaintextAEAD)
    sealed = channel._AEADS["aes-256-gcm"](bytes(32)).encrypt(bytes(12), b"secret", None)
    assert sealed == b"secret"  # the channel would send its payloads in the clear
    assert "bind:secmas.transport.channel" in agent.differing()


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
    return f"sha256={digest}"


@pytest.fixture
def site_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A further site directory of the install (the user's, pointed there), with a
    distribution whose RECORD declares a genuine `.pth` (as setuptools'
    `distutils-precedence.pth` is); then the release is signed, as `secmas wrap --release`
    does, with its platform allow-list, in a release store of the test's."""
    monkeypatch.setenv("SECMAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SECMAS_RELEASES", str(tmp_path / "home" / "releases.db"))
    site_packages = tmp_path / "site-packages"
    site_packages.mkdir()
    genuine = b"import os\n"
    (site_packages / "genuine.pth").write_bytes(genuine)
    info = site_packages / "genuine-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text(
        f"genuine.pth,{record_hash(genuine)},{len(genuine)}\ngenuine-1.0.dist-info/RECORD,,\n"
    )
    monkeypatch.setattr(site, "USER_SITE", str(site_packages))
    store_allowlist(PlatformAllowList.made(signing_key()), releases_path())
    return site_packages


def test_a_pth_implant_placed_before_the_reference_is_flagged(host: Host, site_dir: Path) -> None:
    implant = site_dir / "zz-implant.pth"
    implant.write_text("import os; os.environ.setdefault('IMPLANT', '1')\n")
    host.reference = platform_reference(host.secaas)  # taken after the implant was placed
    appraisal = host.attest(host.start())
    assert failed_because(appraisal, f"start-up hook {implant}")
    assert not failed_because(appraisal, "genuine.pth")


def test_a_declared_pth_that_was_rewritten_is_flagged(host: Host, site_dir: Path) -> None:
    (site_dir / "genuine.pth").write_text("import implant\n")
    host.reference = platform_reference(host.secaas)
    appraisal = host.attest(host.start())
    assert failed_because(appraisal, f"start-up hook {site_dir / 'genuine.pth'}")


@pytest.fixture
def host(request: pytest.FixtureRequest) -> Host:
    """`test_measurement_external`'s host: SECaaS, a measurer, the victim's package."""
    shared: Host = request.getfixturevalue("measured_host")
    return shared
