"""The agent's OCI image, `localhost/secmas-agent:<version>`, built here without a registry.

The sources ran their agents as containers (`001_…` deployed wrapped agents as Docker
containers at three sites, `003_…` ran its VNFs as Containernet containers); here one
image serves the agents inside the emulated PoPs, the generated Kubernetes manifests and
a cluster (DESIGN.md, *Containers and the real testbed*). `build_image` makes it from two
layers:

1. **base**: a Debian bookworm root made by `mmdebstrap` (variant `essential` plus
   python3 and `python`; no documentation, manuals or translations) with
   SOURCE_DATE_EPOCH fixed, so that the tarball is the same, byte for byte, for the same
   packages;
2. **project**: the wheels of secmas's core package and its dependencies, made on the
   host by `pip wheel` from a copy of the source tree, installed in a container of the
   base without network (`pip install --no-index --find-links`, pip run from its own
   wheel), compiled there to bytecode that records its source's hash rather than its time
   (`compileall --invalidation-mode checked-hash`, a fixed hash seed), and written as a
   reproducible tarball (`secmas.deploy.oci`).

The core package holds what `secmas agent` and `python -m secmas.trust.measurer_service`
run; the extras (PyTorch, the web stack) are left out. The same inputs give the same
layer digests and the same image id.

Caches under `$SECMAS_HOME/images/`, each named by the digest of its inputs: the base
tarball (its recipe), the wheelhouse (the source tree, the interpreter, pip's version)
and the project layer (both); one of each is kept. The image's label
`io.secmas.image.inputs` holds the digest of every input, and a build whose inputs match
the image already tagged does nothing. Builds on one machine take turns (a lock file).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

import secmas
from secmas.deploy.agents import AGENT_USER
from secmas.deploy.oci import ImageConfig, Layer, write_layer, write_layout
from secmas.deploy.podman import SETUP_HINT, PodmanError, podman, podman_json
from secmas.trust.container import verify_root, wrap_root
from secmas.trust.keys import secmas_home
from secmas.trust.manifest import ReferenceManifest
from secmas.trust.wrap import Verification

NAME = "localhost/secmas-agent"
SUITE = "bookworm"
VARIANT = "essential"
PACKAGES = ("python3", "python-is-python3", "libstdc++6")
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
DPKG_OPTIONS = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
)
EPOCH = 1735689600
"""SOURCE_DATE_EPOCH of every build (2025-01-01T00:00:00Z): every file's mtime, the
image's creation time."""
PYTHON = "3.11"
"""bookworm's python3: the wheels are built by the same minor version."""
SITE = f"/usr/local/lib/python{PYTHON}/dist-packages"
ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
    "PYTHONDONTWRITEBYTECODE=1",
)
"""`PYTHONDONTWRITEBYTECODE`: a container whose root is writable stays its image's files."""
CMD = ("python", "-m", "secmas", "--help")
ACCOUNTS = (
    "mkdir -p /stage/etc && cp /etc/passwd /etc/group /stage/etc/"
    f" && echo 'secmas:x:{AGENT_USER}:{AGENT_USER}:secmas agent:/tmp:/usr/sbin/nologin'"
    " >> /stage/etc/passwd"
    f" && echo 'secmas:x:{AGENT_USER}:' >> /stage/etc/group"
    " && ln -s ../proc/self/mounts /stage/etc/mtab"
)
"""The agents' user and /etc/mtab in the image: otherwise podman adds them to each
container (a bind mount over /etc/passwd, a link written into the root), and a container
would no longer be its image's files."""
INSTALL_BY = f"pip install --no-index --find-links wheels secmas; compileall checked-hash {SITE}"
LABEL_INPUTS = "io.secmas.image.inputs"
LABEL_SOURCE = "io.secmas.image.source"
RECIPE_VERSION = 1
"""Changed whenever this module builds something else from the same inputs."""
SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE")
"""What setuptools reads beside `src/`."""
IMAGES = "images"
MMDEBSTRAP_MISSING = f"mmdebstrap is not installed: {SETUP_HINT}"
BUILD_TIMEOUT_S = 900.0

Progress = Callable[[str], None]


class ImageError(Exception):
    """A build step that failed; the message names it and quotes the tool's reason."""


class ImageInputError(ImageError):
    """What the build is given or needs is not there: no source tree, another Python, a
    missing tool."""


def agent_tag(version: str = secmas.__version__) -> str:
    """The tag the project's image has: `localhost/secmas-agent:<version>`."""
    return f"{NAME}:{version}"


@dataclass(frozen=True)
class AgentImage:
    """A built (or found) agent image."""

    tag: str
    id: str
    layers: tuple[str, ...]
    """Layer digests (diff ids, `sha256:…`), base first."""
    inputs: str
    """The digest of every input (`LABEL_INPUTS`)."""
    built: bool = False
    """False: the image was already there with the same inputs."""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "id": self.id,
            "layers": list(self.layers),
            "inputs": self.inputs,
            "built": self.built,
            "seconds": round(self.seconds, 1),
        }


@dataclass(frozen=True)
class Inputs:
    """What an image is made of, each part by digest."""

    source: Path
    source_digest: str
    python: str
    pip: str

    @property
    def base_key(self) -> str:
        return base_key()

    @property
    def wheels_key(self) -> str:
        return _digest({"source": self.source_digest, "python": self.python, "pip": self.pip})

    @property
    def layer_key(self) -> str:
        return _digest({"base": self.base_key, "wheels": self.wheels_key, "recipe": RECIPE_VERSION})

    @property
    def digest(self) -> str:
        """Everything the image is a function of (`LABEL_INPUTS`)."""
        return _digest({"layer": self.layer_key, "env": ENV, "cmd": CMD, "epoch": EPOCH})


def base_key() -> str:
    """The digest of the Debian base's recipe (the base is a function of nothing else)."""
    return _digest(
        {
            "suite": SUITE,
            "variant": VARIANT,
            "packages": PACKAGES,
            "mirrors": MIRRORS,
            "dpkg": DPKG_OPTIONS,
            "epoch": EPOCH,
        }
    )


def _digest(document: object) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def source_tree(given: Path | None = None) -> Path:
    """The checkout to build from: `given`, or the one this secmas runs from."""
    root = given if given is not None else Path(secmas.__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file() or not (root / "src" / "secmas").is_dir():
        where = f"{root} is not" if given is not None else "this secmas does not run from"
        raise ImageInputError(
            f"{where} a secmas source tree (pyproject.toml and src/secmas): the image is built "
            "from a checkout (--source DIR)"
        )
    return root


def source_files(root: Path) -> list[Path]:
    """The files of the tree that go into the wheel's build, relative, sorted."""
    found = [Path(name) for name in SOURCE_FILES if (root / name).is_file()]
    for folder, dirs, files in os.walk(root / "src"):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.endswith(".egg-info"))
        base = Path(folder).relative_to(root)
        found += [base / f for f in sorted(files) if not f.endswith((".pyc", ".pyo"))]
    return found


def inputs_of(source: Path) -> Inputs:
    """The inputs of a build from `source` with this interpreter and its pip."""
    digest = hashlib.sha256()
    for name in source_files(source):
        digest.update(name.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256((source / name).read_bytes()).digest())
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    try:
        pip = metadata.version("pip")
    except metadata.PackageNotFoundError:
        raise ImageInputError(f"pip is not installed for {sys.executable}") from None
    return Inputs(source, digest.hexdigest(), python, pip)


def find_image(tag: str) -> AgentImage | None:
    """The image tagged `tag`, or None."""
    try:
        podman(["image", "exists", tag])
    except PodmanError as exc:
        if exc.returncode == 1:
            return None
        raise ImageError(str(exc)) from None
    found = podman_json(["image", "inspect", tag])[0]
    labels = found.get("Labels") or {}
    return AgentImage(
        tag, found["Id"], tuple(found["RootFS"]["Layers"]), labels.get(LABEL_INPUTS, "")
    )


def build_image(
    source: Path | None = None,
    *,
    tag: str | None = None,
    cache: Path | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> AgentImage:
    """Build the agent image from `source` (default: this checkout) and tag it (default
    `agent_tag()`); nothing is done when the tag's image has the same inputs, unless
    `rebuild`. ImageInputError for what is missing, ImageError for a step that failed."""
    started = time.monotonic()
    tag = tag or agent_tag()
    say = progress or (lambda _line: None)
    inputs = inputs_of(source_tree(source))
    if inputs.python != PYTHON:
        raise ImageInputError(
            f"the image's wheels are built by Python {PYTHON} (bookworm's); this is "
            f"{inputs.python} ({sys.executable})"
        )
    cache = (cache or secmas_home() / IMAGES).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    with _turn(cache):
        try:
            existing = find_image(tag)
            if existing is not None and existing.inputs == inputs.digest and not rebuild:
                say(f"{tag}: up to date ({existing.id[:12]})")
                return existing
            base = base_layer(cache, say)
            wheels = wheelhouse(inputs, cache, say)
            layer = _cached_layer(inputs, base, wheels, cache, say)
            say(f"{tag}: loading the image into podman")
            image_id = load_image([base, layer], image_config(inputs), tag)
            if existing is not None and existing.id != image_id:
                _remove_unused(existing.id)
        except PodmanError as exc:
            raise ImageError(str(exc)) from None
        except OSError as exc:  # the cache's disk
            raise ImageError(f"{cache}: {exc.strerror or exc}") from None
    layers = (f"sha256:{base.digest}", f"sha256:{layer.digest}")
    seconds = time.monotonic() - started
    say(f"{tag}: built in {seconds:.0f} s ({image_id[:12]})")
    return AgentImage(tag, image_id, layers, inputs.digest, True, seconds)


def nfvi_base(progress: Progress | None = None) -> Layer:
    """The Debian base alone (the VNF images' first layer), made when missing, in turn
    with the agent image's builds, which share its cache."""
    cache = (secmas_home() / IMAGES).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    with _turn(cache):
        try:
            return base_layer(cache, progress or (lambda _line: None))
        except OSError as exc:
            raise ImageError(f"{cache}: {exc.strerror or exc}") from None


@contextmanager
def _turn(cache: Path) -> Iterator[None]:
    """One build at a time on this machine (they share the caches and the tag)."""
    with (cache / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def image_config(inputs: Inputs) -> ImageConfig:
    """The configuration of the image built from `inputs`: environment, command, labels."""
    labels = {
        "org.opencontainers.image.title": "secmas-agent",
        "org.opencontainers.image.version": secmas.__version__,
        LABEL_INPUTS: inputs.digest,
        LABEL_SOURCE: inputs.source_digest,
    }
    return ImageConfig(EPOCH, ENV, CMD, labels)


def base_layer(cache: Path, say: Progress) -> Layer:
    """The base rootfs tarball (cached by its recipe), made by mmdebstrap when missing."""
    path = cache / f"base-{base_key()[:16]}.tar"
    created_by = f"mmdebstrap --variant={VARIANT} --include={','.join(PACKAGES)} {SUITE}"
    if not path.exists():
        if shutil.which("mmdebstrap") is None:
            raise ImageInputError(MMDEBSTRAP_MISSING)
        say(f"base: {created_by} (about 30 s)")
        partial = path.with_suffix(".partial")
        argv = [
            "mmdebstrap",
            "--quiet",
            "--format=tar",
            f"--variant={VARIANT}",
            f"--include={','.join(PACKAGES)}",
        ]
        argv += [f"--dpkgopt={option}" for option in DPKG_OPTIONS]
        _run([*argv, SUITE, str(partial), *MIRRORS], "mmdebstrap")
        partial.rename(path)
        _prune(cache, "base-", path)
    return Layer.of(path, created_by)


def wheelhouse(inputs: Inputs, cache: Path, say: Progress) -> Path:
    """The wheels of secmas (from a copy of the source tree) and of its dependencies,
    and pip's own (cached by the source, the interpreter and pip's version)."""
    folder = cache / f"wheels-{inputs.wheels_key[:16]}"
    if folder.is_dir():
        return folder
    say(f"wheels: pip wheel of {inputs.source} and its dependencies (about 15 s)")
    with tempfile.TemporaryDirectory(dir=cache, prefix="wheels-") as scratch:
        copy = Path(scratch) / "source"
        for name in source_files(inputs.source):
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(inputs.source / name, copy / name)
        wheels = Path(scratch) / "wheels"
        argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"]
        _run([*argv, "-w", str(wheels), str(copy), f"pip=={inputs.pip}"], "pip wheel")
        wheels.rename(folder)
    _prune(cache, "wheels-", folder)
    return folder


def _cached_layer(inputs: Inputs, base: Layer, wheels: Path, cache: Path, say: Progress) -> Layer:
    path = cache / f"layer-{inputs.layer_key[:16]}.tar"
    if not path.exists():
        partial = path.with_suffix(".partial")
        project_layer(base, wheels, partial, say)
        partial.rename(path)
        _prune(cache, "layer-", path)
    return Layer.of(path, INSTALL_BY)


def project_layer(base: Layer, wheels: Path, out: Path, say: Progress) -> Layer:
    """Install the wheelhouse in a container of `base` and write what it added as the
    project layer at `out` (the same inputs give the same bytes)."""
    say("project: pip install in a container of the base, no network (about 30 s)")
    pip = next(wheels.glob("pip-*.whl"), None)
    if pip is None:
        raise ImageError(f"{wheels}: no pip wheel in the wheelhouse")
    install = (
        f"python3 /wheels/{pip.name}/pip install --quiet --no-index --find-links /wheels "
        "--only-binary :all: --root /stage --no-compile --no-cache-dir "
        "--disable-pip-version-check --no-warn-script-location --root-user-action ignore secmas"
        f" && python3 -m compileall -q --invalidation-mode checked-hash -s /stage -p / /stage{SITE}"
        f" && {ACCOUNTS}"
    )
    with _base_image(base) as image, tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        stage = Path(scratch) / "stage"
        stage.mkdir()
        run = ["run", "--rm", "--pull", "never", "--network", "none"]
        run += ["-e", "PYTHONHASHSEED=0", "-e", f"SOURCE_DATE_EPOCH={EPOCH}"]
        run += ["-v", f"{wheels}:/wheels:ro", "-v", f"{stage}:/stage", image, "sh", "-ec", install]
        podman(run, timeout=BUILD_TIMEOUT_S)
        write_layer(stage, out, EPOCH)
    return Layer.of(out, INSTALL_BY)


@contextmanager
def _base_image(base: Layer) -> Iterator[str]:
    """The base alone as an image, for the install container; removed afterwards."""
    tag = f"{NAME}-base:{base.digest[:16]}"
    config = ImageConfig(EPOCH, ENV, ("python3",), {})
    load_image([base], config, tag)
    try:
        yield tag
    finally:
        podman(["rmi", tag])


def load_image(layers: list[Layer], config: ImageConfig, tag: str) -> str:
    """Write the layout beside the layers, `podman load` it and tag it; returns the image
    id. podman names what it loads from a layout after the layout's path, which must then
    be a valid image name (`$SECMAS_HOME` is `~/.secmas`, which is not): it reads the
    layout through a link of such a name in the temporary directory, and that name is
    removed from the image again."""
    named = Path(tempfile.gettempdir()) / f"secmas-layout-{secrets.token_hex(8)}"
    with tempfile.TemporaryDirectory(dir=layers[0].path.parent, prefix="layout-") as scratch:
        layout = Path(scratch) / "layout"
        image_id = write_layout(layout, layers, config)
        named.symlink_to(layout)
        try:
            loaded = podman(["load", "--quiet", "--input", str(named)], timeout=BUILD_TIMEOUT_S)
        finally:
            named.unlink()
    podman(["tag", image_id, tag])
    name = loaded.strip().rpartition("Loaded image: ")[2].strip()
    if name and name != tag and not name.startswith("sha256:"):
        podman(["untag", image_id, name])
    return image_id


def _remove_unused(image_id: str) -> None:
    """Remove an image the tag no longer names, unless a container still uses it."""
    with suppress(PodmanError):
        podman(["rmi", image_id])


def _run(argv: list[str], what: str) -> None:
    """Run a build tool; ImageError with the end of its output when it fails."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=BUILD_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise ImageInputError(f"{argv[0]} is not installed: {SETUP_HINT}") from None
    except subprocess.TimeoutExpired:
        raise ImageError(f"{what}: no result in {BUILD_TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip())[-800:]
        raise ImageError(f"{what} failed (exit {done.returncode}): {tail}")


def _prune(cache: Path, prefix: str, keep: Path) -> None:
    """Keep one cache entry of a kind: the one just made."""
    for old in cache.glob(f"{prefix}*"):
        if old == keep:
            continue
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


@contextmanager
def mounted_image(image: str) -> Iterator[Path]:
    """The image's root as a folder (`podman image mount`, root only), unmounted after."""
    try:
        root = Path(podman(["image", "mount", image]).strip())
    except PodmanError as exc:
        raise ImageError(str(exc)) from None
    try:
        yield root
    finally:
        podman(["image", "unmount", image])


def wrap_image(image: str, key: Ed25519PrivateKey) -> ReferenceManifest:
    """SECaaS's signed reference of the files of `image` (a tag or an id), named `NAME`
    at version `<version label>-<image id's start>` (`secmas.trust.container`)."""
    found = find_image(image)
    if found is None:
        raise ImageInputError(f"no image {image}: build it with `secmas image build`")
    labels = podman_json(["image", "inspect", image])[0].get("Labels") or {}
    version = labels.get("org.opencontainers.image.version", "unversioned")
    with mounted_image(image) as root:
        return wrap_root(root, key, NAME, f"{version}-{found.id[:12]}")


def verify_image(tag: str, manifest: ReferenceManifest, trusted: Ed25519PublicKey) -> Verification:
    """The image's files against a reference signed by `trusted`."""
    if find_image(tag) is None:
        raise ImageInputError(f"no image {tag}: build it with `secmas image build`")
    with mounted_image(tag) as root:
        return verify_root(root, manifest, trusted)
