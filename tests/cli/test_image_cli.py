"""`secmas image build` and `secmas image verify`: bad input and missing tools exit 2 with
one line naming them, a check that does not pass exits 1, and `--json` documents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.containers import Containers
from typer.testing import CliRunner

from secmas.cli.main import app
from secmas.deploy.image import AgentImage
from secmas.trust.keys import save_private_key
from secmas.trust.wrap import wrap

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), terminal_width=200)
    return result.exit_code, result.stdout, result.stderr


def test_without_podman_both_commands_say_what_installs_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    for args in (["image", "build"], ["image", "verify", str(tmp_path / "m.json")]):
        code, _, err = invoke(*args)
        assert code == 2
        assert "podman is not installed: ./scripts/setup --containers installs it" in err


def test_bad_input_is_refused_with_exit_2(tmp_path: Path) -> None:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: ./scripts/setup --test installs it")
    code, _, err = invoke("image", "build", "--source", str(tmp_path))
    assert code == 2 and f"{tmp_path} is not a secmas source tree" in err
    code, _, err = invoke("image", "verify", str(tmp_path / "none.json"))
    assert code == 2 and "none.json: cannot read" in err
    module = tmp_path / "agent.py"
    module.write_text("x = 1\n")
    key = Ed25519PrivateKey.generate()
    wrap(module, key).save(tmp_path / "python.json")
    hex_key = key.public_key().public_bytes_raw().hex()
    code, _, err = invoke(
        "image", "verify", str(tmp_path / "python.json"), "--trusted-key", hex_key
    )
    assert code == 2 and "not an image manifest (kind python)" in err


def test_build_wraps_the_image_and_verify_checks_it(
    agent_image: AgentImage, tmp_path: Path
) -> None:
    key = Ed25519PrivateKey.generate()
    save_private_key(key, tmp_path / "secaas.pem")
    manifest = tmp_path / "agent.manifest.json"
    code, out, err = invoke(
        "image", "build", "--key", str(tmp_path / "secaas.pem"), "-o", str(manifest), "--json"
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["tag"] == agent_image.tag and document["files"] > 10_000
    assert Path(document["manifest"]) == manifest and manifest.exists()
    trusted = key.public_key().public_bytes_raw().hex()
    code, out, err = invoke("image", "verify", str(manifest), "--trusted-key", trusted, "--json")
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    code, _, err = invoke("image", "verify", str(manifest), "--trusted-key", other)
    assert code == 1 and "bad signature" in err
    with Containers() as started:
        started.run("cli", document["id"], "sleep", "600", options=("--read-only",))
        name = started.name("cli")
        code, out, err = invoke("image", "verify", str(manifest), "--trusted-key", trusted,
                                "--container", name)  # fmt: skip
    assert code == 0, err
    assert f"{name} matches localhost/secmas-agent" in out
