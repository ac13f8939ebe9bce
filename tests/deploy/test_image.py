"""The agent image (`secmas.deploy.image`, `secmas.deploy.oci`, `secmas.deploy.podman`):
podman reads the shipped configuration, fails with a typed error; layers and layouts are
functions of their inputs; the image builds once, again to the same layer digests and
id, and runs the agent's and the measurer's modules locked down, without the extras."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

import secmas
from secmas.deploy import podman as podman_module
from secmas.deploy.image import (
    AGENT_USER,
    LABEL_INPUTS,
    AgentImage,
    ImageInputError,
    base_layer,
    build_image,
    image_config,
    inputs_of,
    project_layer,
    source_files,
    source_tree,
    wheelhouse,
)
from secmas.deploy.oci import ImageConfig, Layer, LayerError, write_layer, write_layout
from secmas.deploy.podman import (
    PodmanError,
    PodmanMissing,
    containers_conf,
    environment,
    podman,
    podman_json,
)
from secmas.trust.keys import secmas_home

EPOCH = 1735689600


def needs_podman() -> None:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: ./scripts/setup --test installs it")


def test_every_podman_call_reads_the_shipped_configuration() -> None:
    conf = containers_conf()
    text = conf.read_text()
    assert 'runtime = "runc"' in text and 'cgroup_manager = "cgroupfs"' in text
    assert '"nofile=1024:1024"' in text and '"nproc=1024:1024"' in text
    assert environment()["CONTAINERS_CONF"] == str(conf)
    needs_podman()
    assert podman(["info", "--format", "{{.Host.OCIRuntime.Name}}"]).strip() == "runc"


def test_a_missing_or_failing_podman_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as without:
        without.setenv("PATH", "/nonexistent")
        with pytest.raises(PodmanMissing, match=r"\./scripts/setup --containers"):
            podman_json(["info"])
        assert not podman_module.available()
    needs_podman()
    with pytest.raises(PodmanError) as failed:
        podman(["image", "inspect", "localhost/no-such-image:0"])
    assert failed.value.command[:3] == ("podman", "image", "inspect")
    assert failed.value.returncode and "no-such-image" in failed.value.reason


def tree(root: Path, mtime: int) -> Path:
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "a.py").write_text("print('a')\n")
    (root / "usr" / "lib" / "z.so").write_bytes(b"\0" * 100)
    (root / "usr" / "lib" / "z.so").chmod(0o755)
    (root / "usr" / "bin").mkdir()
    (root / "usr" / "bin" / "tool").symlink_to("../lib/a.py")
    for path in sorted(root.rglob("*")):
        if not path.is_symlink():
            path.touch()
            os.utime(path, (mtime, mtime))
    return root


def test_a_layer_is_the_same_tarball_whatever_the_files_times(tmp_path: Path) -> None:
    one = write_layer(tree(tmp_path / "one", 1_000_000), tmp_path / "one.tar", EPOCH)
    two = write_layer(tree(tmp_path / "two", 2_000_000), tmp_path / "two.tar", EPOCH)
    assert one == two
    with tarfile.open(tmp_path / "one.tar") as layer:
        entries = layer.getmembers()
    assert [e.name for e in entries] == [
        "usr", "usr/bin", "usr/bin/tool", "usr/lib", "usr/lib/a.py", "usr/lib/z.so",
    ]  # fmt: skip
    assert {(e.mtime, e.uid, e.gid, e.uname, e.gname) for e in entries} == {(EPOCH, 0, 0, "", "")}
    assert next(e for e in entries if e.name == "usr/lib/z.so").mode == 0o755
    assert next(e for e in entries if e.name == "usr/bin/tool").linkname == "../lib/a.py"


def test_a_device_or_fifo_cannot_become_a_layer(tmp_path: Path) -> None:
    os.mkfifo(tree(tmp_path / "t", 1) / "fifo")
    with pytest.raises(LayerError, match="fifo: not a file"):
        write_layer(tmp_path / "t", tmp_path / "t.tar", EPOCH)


def test_the_layout_is_a_function_of_its_layers_and_config(tmp_path: Path) -> None:
    write_layer(tree(tmp_path / "t", 1), tmp_path / "t.tar", EPOCH)
    layer = Layer.of(tmp_path / "t.tar", "test")
    config = ImageConfig(EPOCH, ("A=b",), ("python",), {"k": "v"})
    first = write_layout(tmp_path / "one", [layer], config)
    assert write_layout(tmp_path / "two", [layer], config) == first
    index = json.loads((tmp_path / "one" / "index.json").read_text())
    manifest_blob = index["manifests"][0]["digest"].removeprefix("sha256:")
    manifest = json.loads((tmp_path / "one" / "blobs" / "sha256" / manifest_blob).read_text())
    assert manifest["config"]["digest"] == f"sha256:{first}"
    assert manifest["layers"][0]["digest"] == f"sha256:{layer.digest}"
    document = json.loads((tmp_path / "one" / "blobs" / "sha256" / first).read_text())
    assert document["created"] == "2025-01-01T00:00:00Z"
    assert document["rootfs"]["diff_ids"] == [f"sha256:{layer.digest}"]
    relabelled = ImageConfig(EPOCH, ("A=b",), ("python",), {"k": "w"})
    assert write_layout(tmp_path / "three", [layer], relabelled) != first


def test_the_inputs_follow_every_source_file_but_bytecode(tmp_path: Path) -> None:
    source = tmp_path / "checkout"
    (source / "src" / "secmas" / "__pycache__").mkdir(parents=True)
    (source / "pyproject.toml").write_text("[project]\nname = 'secmas'\n")
    (source / "src" / "secmas" / "__init__.py").write_text("")
    first = inputs_of(source_tree(source))
    (source / "src" / "secmas" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert inputs_of(source).digest == first.digest
    (source / "src" / "secmas" / "__init__.py").write_text("x = 1\n")
    changed = inputs_of(source)
    assert changed.wheels_key != first.wheels_key and changed.digest != first.digest
    assert changed.base_key == first.base_key  # the Debian base is kept
    with pytest.raises(ImageInputError, match="not a secmas source tree"):
        source_tree(tmp_path)


def test_the_image_is_built_once_and_again_to_the_same_digests(
    agent_image: AgentImage, tmp_path: Path
) -> None:
    checkout = source_tree()
    source = tmp_path / "source"  # a snapshot: others may edit the checkout meanwhile
    for name in source_files(checkout):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(checkout / name, source / name)
    tag = f"localhost/secmas-agent-test:{os.getpid()}"
    try:
        image = build_image(source, tag=tag)  # the session's cached layers, unless edited since
        again = build_image(source, tag=tag)
        assert not again.built and (again.id, again.layers) == (image.id, image.layers)
        labels = podman_json(["image", "inspect", tag])[0]["Labels"]
        assert labels[LABEL_INPUTS] == image.inputs == inputs_of(source).digest
        if image.inputs == agent_image.inputs:
            assert image.id == agent_image.id  # same inputs, same image under another tag
        inputs = inputs_of(source)
        cache = secmas_home() / "images"
        base = base_layer(cache, print)  # cached: mmdebstrap does not run again
        wheels = wheelhouse(inputs, cache, print)  # cached too
        rebuilt = project_layer(base, wheels, tmp_path / "project.tar", print)
        assert (f"sha256:{base.digest}", f"sha256:{rebuilt.digest}") == image.layers
        layout = write_layout(tmp_path / "layout", [base, rebuilt], image_config(inputs))
        assert layout == image.id
    finally:
        podman(["rmi", tag])  # only the name when the session's image has the same id


def test_the_image_runs_the_agent_and_its_measurer_locked_down(agent_image: AgentImage) -> None:
    probe = (
        "import importlib.util as u, sys, secmas, secmas.pipeline.agent_process,"
        " secmas.trust.measurer_service;"
        " print(secmas.__version__, sys.version_info[:2], [m for m in"
        " ('torch', 'fastapi', 'stix2', 'pyroute2') if u.find_spec(m)])"
    )
    locked = ["--read-only", "--user", f"{AGENT_USER}:{AGENT_USER}", "--cap-drop", "all"]
    run = ["run", "--rm", "--network", "none", *locked, agent_image.id, "python", "-c", probe]
    assert podman(run).split() == [secmas.__version__, "(3,", "11)", "[]"]
