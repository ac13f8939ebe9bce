"""References made once, off the host.

The attack: SECaaS wrapped the installed `secmas` package at each run (steps 3–4), so an
implant written into the installed package before a run was part of that run's reference,
and every agent running it passed. Here the package is installed (copied) in a folder of
the test's, its release is wrapped once — by a first run on the clean install, or by
SECaaS from the wheel before anything runs — and then an implant is written into one of
its modules before the next run. Step 3–4 of that run must flag it, naming the module.
"""

from __future__ import annotations

import asyncio
import shutil
import zipfile
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

import secmas
from secmas.cli.wrap import register
from secmas.pipeline.errors import PipelineError
from secmas.pipeline.images import WrappedImage, secmas_image
from secmas.pipeline.workflow import Workflow
from secmas.trust.keys import signing_key
from secmas.trust.repository import ReferenceRepository

IMPLANTED = "trust/verification.py"
IMPLANT = "\n\ndef _accept_everyone(*_: object) -> bool:\n    return True\n"

runner = CliRunner()
app = typer.Typer(pretty_exceptions_enable=False)
register(app)


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the `secmas` package as runs find it installed, with its own SECaaS home
    and release store."""
    monkeypatch.setenv("SECMAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SECMAS_RELEASES", str(tmp_path / "home" / "releases.db"))
    root = tmp_path / "site-packages" / "secmas"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(Path(secmas.__file__).parent, root, ignore=ignore)
    monkeypatch.setattr(secmas, "__file__", str(root / "__init__.py"))
    return root


def implant(root: Path) -> None:
    with (root / IMPLANTED).open("a", encoding="utf-8") as module:
        module.write(IMPLANT)


def wheel_of(root: Path, folder: Path) -> Path:
    """The release as built: a wheel holding the clean package."""
    wheel = folder / f"secmas-{secmas.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, f"secmas/{path.relative_to(root)}")
        archive.writestr(f"secmas-{secmas.__version__}.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    return wheel


def steps_3_4() -> WrappedImage:
    """Steps 3–4 of a run, each run with a SECaaS run key of its own."""
    wrap = Workflow().step(
        "3-4", lambda: secmas_image(Ed25519PrivateKey.generate(), ReferenceRepository())
    )
    return asyncio.run(wrap)


def test_an_implant_placed_after_the_first_run_is_flagged_by_the_next(installed: Path) -> None:
    steps_3_4()  # the first run on this host: the release reference is made, once
    implant(installed)
    with pytest.raises(PipelineError, match=r"secmas\.trust\.verification"):
        steps_3_4()


def test_a_wheel_wrapped_once_flags_an_implant_placed_before_any_run(
    installed: Path, tmp_path: Path
) -> None:
    wheel = wheel_of(installed, tmp_path)
    result = runner.invoke(app, ["wrap", str(wheel), "--release", "-o", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    implant(installed)
    with pytest.raises(PipelineError, match=r"secmas\.trust\.verification"):
        steps_3_4()


def test_every_run_uses_the_one_signed_release_reference(installed: Path) -> None:
    first, second = steps_3_4(), steps_3_4()
    assert first.manifest == second.manifest  # the same signed document, not a new wrap
    assert first.manifest.public_key == signing_key().public_key().public_bytes_raw().hex()
