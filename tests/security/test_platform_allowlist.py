"""An implant in site-packages with a matching edit of its distribution's RECORD
(references made once, off the host).

Site-packages is known file by file, by the digests its distributions' RECORD files
declare. Read from the host at each run's start, those RECORDs vouched for whatever the
host held then: an attacker who wrote an implant into a distribution's module (or a
`.pth` start-up hook beside it) and rewrote the RECORD's digest to match passed, both the
agent's own measurement (`KnownCode`) and the external measurer's platform reference.
Now the RECORDs are read once, when the release reference is made (here: the first run,
on the clean install), into an allow-list signed by the SECaaS key, and every later run
holds to it.

The distribution lives in the user's site directory, which the test points elsewhere
(writing into the real site-packages would change every Python process on the machine
meanwhile).
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import secrets
import site as site_module
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from tests.security.test_known_code import IMPLANT
from tests.security.test_measurement_external import Host, failed_because
from tests.security.test_measurement_external import (
    host as measured_host,  # noqa: F401  (the fixture `host`, shared)
)
from tests.security.test_release_reference import steps_3_4

from secmas.trust.measurer_probe import platform_reference

GENUINE = "import json\n\n\ndef loads(text):\n    return json.loads(text)\n"
GENUINE_HOOK = "import os\n"
IMPLANT_HOOK = "import os; os.environ.setdefault('IMPLANT', '1')\n"


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
    return f"sha256={digest}"


@dataclass(frozen=True)
class Distribution:
    """An installed distribution: one module and one `.pth` hook, declared by its RECORD."""

    site: Path
    module: str

    @property
    def info(self) -> Path:
        return self.site / f"{self.module}-1.0.dist-info"

    def write(self, module: str, hook: str) -> None:
        """Install (or, as the attacker, rewrite) its files and a RECORD that matches."""
        files = {f"{self.module}.py": module.encode(), f"{self.module}.pth": hook.encode()}
        for name, data in files.items():
            (self.site / name).write_bytes(data)
        rows = [f"{name},{record_hash(data)},{len(data)}" for name, data in files.items()]
        self.info.mkdir(exist_ok=True)
        (self.info / "RECORD").write_text("\n".join([*rows, f"{self.info.name}/RECORD,,"]) + "\n")

    def imported(self) -> ModuleType:
        sys.modules.pop(self.module, None)
        importlib.invalidate_caches()
        return importlib.import_module(self.module)


@pytest.fixture
def distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Distribution]:
    """A genuine distribution in a further site directory of the install, with a SECaaS
    home and release store of the test's."""
    monkeypatch.setenv("SECMAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SECMAS_RELEASES", str(tmp_path / "home" / "releases.db"))
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(site_module, "USER_SITE", str(site))  # the user's site directory
    monkeypatch.syspath_prepend(str(site))
    found = Distribution(site, f"genuine_{secrets.token_hex(4)}")
    found.write(GENUINE, GENUINE_HOOK)
    yield found
    sys.modules.pop(found.module, None)


def test_an_implant_with_a_matching_record_edit_is_flagged_in_the_agent(
    distribution: Distribution, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = steps_3_4()  # the release reference, made on first use on the clean install
    assert first.runtime.measure().differing(first.reference) == []
    distribution.write(IMPLANT, GENUINE_HOOK)  # the implant, and its RECORD rewritten
    implant = distribution.imported()
    image = steps_3_4()  # the next run
    rebind: Callable[..., object] = implant.loads
    monkeypatch.setattr(json, "loads", rebind)
    assert json.loads('{"bid": 1}') == {"bid": 1}
    assert implant.LEAKED == ['{"bid": 1}']  # the implant sees every message parsed
    assert "bind:stdlib" in image.runtime.measure().differing(image.reference)


def test_a_pth_implant_with_a_matching_record_edit_is_flagged_by_the_measurer(
    host: Host, distribution: Distribution
) -> None:
    steps_3_4()  # the release reference, made on first use on the clean install
    distribution.write(GENUINE, IMPLANT_HOOK)
    host.reference = platform_reference(host.secaas)  # the next run's platform reference
    appraisal = host.attest(host.start())
    hook = distribution.site / f"{distribution.module}.pth"
    assert failed_because(appraisal, f"start-up hook {hook}")


@pytest.fixture
def host(request: pytest.FixtureRequest) -> Host:
    """`test_measurement_external`'s host: SECaaS, a measurer, the victim's package."""
    shared: Host = request.getfixturevalue("measured_host")
    return shared
