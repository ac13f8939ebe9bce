"""The images of the VNFs an emulated run's PoPs pull, and the registry folder holding them.

`003_…`'s testbed ran every VNF an agent started as a container of its own, after the
PoP's Orchestrator downloaded its image; the bid's T (Definition 7) estimates that
download as the image's size over the widest path from the repository. Here each
catalogue entry has an image `secmas-vnf/<id>` of two layers:

1. the NFVI base: the agent image's Debian base (python3, `secmas.deploy.image`), which
   every PoP holds before the run. A PoP's own image store sees the machine's podman
   store, where the base is loaded as `NFVI_BASE`, as a read-only additional store, so a
   pull never moves it;
2. the VNF's own layer: its program (`secmas.network.emulation.vnfprobe`), a description
   and an incompressible payload of the catalogue's `image_size` times the run's scale
   (every byte of an emulated run is scaled alike, so over free links the pull takes the
   model's T), at most `MAX_LAYER_MB`.

The images are made once per set of sizes and pushed into the registry folder
`$SECMAS_HOME/vnf-registry/`, which each run's registry (Debian's `docker-registry`)
serves read-only; then they are removed from the machine's store, so that a PoP finds
only the base there and pulls the VNF's own layer over the emulated links. A pull into a
scratch store checks that: it must not copy the base.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import secmas
from secmas.deploy.image import EPOCH, ImageError, base_key, load_image, nfvi_base
from secmas.deploy.oci import ImageConfig, Layer, write_layer
from secmas.deploy.podman import PodmanError, environment, podman
from secmas.listenport import free_port
from secmas.processend import end_process
from secmas.trust.keys import secmas_home

REPOSITORY = "secmas-vnf"
NFVI_BASE = "localhost/secmas-nfvi-base"
PROGRAM = "/opt/secmas-vnf/vnfprobe.py"
MAX_LAYER_MB = 64.0
"""A VNF layer's largest size in real MB: a scenario at full scale with 500 MB images
would otherwise move gigabytes per run."""
REGISTRY_FOLDER = "vnf-registry"
RECIPE_VERSION = 1
"""Changed whenever this module makes other images from the same sizes."""
REGISTRY_BINARY = "docker-registry"
REGISTRY_MISSING = f"{REGISTRY_BINARY} is not installed: ./scripts/setup --emulated installs it"
START_TIMEOUT_S = 20.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class VNFImage:
    """One VNF's image as the registry serves it."""

    vnf: str
    repository: str
    """Its name in the registry, `secmas-vnf/<id>`."""
    digest: str
    """The manifest's digest (`sha256:…`): a pull names the image by it."""
    layer_bytes: int
    """The size of the VNF's own layer, the bytes a pull moves."""


@dataclass(frozen=True)
class VNFRegistry:
    """A registry folder with every VNF image of a catalogue."""

    folder: Path
    images: Mapping[str, VNFImage]

    @property
    def store(self) -> Path:
        """The folder the registry's file system driver serves."""
        return self.folder / "store"


def repository_of(vnf: str) -> str:
    """`secmas-vnf/<id>` in the registry's alphabet (lower case, `.`, `_` and `-` inside)."""
    name = re.sub(r"[^a-z0-9._-]+", "-", vnf.lower()).strip("._-") or "vnf"
    if name != vnf:
        name += "-" + hashlib.sha256(vnf.encode()).hexdigest()[:8]
    return f"{REPOSITORY}/{name}"


def layer_bytes(image_size_mb: float, scale: float) -> int:
    """Real bytes of a VNF's own layer: its catalogue size scaled as the run's traffic."""
    return int(min(image_size_mb * scale, MAX_LAYER_MB) * 1_000_000)


def payload(vnf: str, size: int) -> Iterator[bytes]:
    """`size` incompressible bytes that depend only on the VNF's id, in chunks."""
    stream = hashlib.shake_256(f"secmas-vnf:{vnf}".encode())
    chunk = 1 << 20
    made = 0
    counter = 0
    while made < size:
        part = hashlib.shake_256(stream.digest(32) + counter.to_bytes(8, "big"))
        data = part.digest(min(chunk, size - made))
        made += len(data)
        counter += 1
        yield data


def probe_source() -> bytes:
    """The VNF program's source, as copied into every image."""
    return (resources.files("secmas") / "network" / "emulation" / "vnfprobe.py").read_bytes()


def registry_key(sizes: Mapping[str, int]) -> str:
    """Everything the registry folder is a function of."""
    document = {
        "base": base_key(),
        "sizes": dict(sorted(sizes.items())),
        "probe": hashlib.sha256(probe_source()).hexdigest(),
        "version": secmas.__version__,
        "recipe": RECIPE_VERSION,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def prepare_registry(sizes: Mapping[str, int], say: Progress | None = None) -> VNFRegistry:
    """The registry folder with an image for each VNF of `sizes` (VNF id → layer bytes),
    pushed when this set is new; the NFVI base in the machine's store either way. One
    folder serves every set (its store is content-addressed, so sets share their blobs),
    and nothing is removed from it: a run may be serving it. ImageError when a step
    fails."""
    say = say or (lambda _line: None)
    if shutil.which(REGISTRY_BINARY) is None:
        raise ImageError(REGISTRY_MISSING)
    folder = secmas_home() / REGISTRY_FOLDER
    index = folder / "sets" / f"{registry_key(sizes)[:16]}.json"
    index.parent.mkdir(parents=True, exist_ok=True)
    with _turn(folder):
        base = nfvi_base(say)
        base_tag = f"{NFVI_BASE}:{base.digest[:16]}"
        _ensure_base(base, base_tag)
        if not index.exists():
            say(f"VNF images: making {len(sizes)} and pushing them to the registry folder")
            images = _fill(folder, base, sizes, base_tag)
            partial = index.with_suffix(".partial")
            partial.write_text(json.dumps(images, indent=1, sort_keys=True))
            partial.rename(index)
        entries = json.loads(index.read_text())
    return VNFRegistry(folder, {vnf: VNFImage(**entry) for vnf, entry in entries.items()})


@contextmanager
def _turn(home: Path) -> Iterator[None]:
    """One preparation at a time on this machine (they share the folder and the tags)."""
    with (home / "prepare.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _ensure_base(base: Layer, tag: str) -> None:
    try:
        podman(["image", "exists", tag])
    except PodmanError as exc:
        if exc.returncode != 1:
            raise ImageError(str(exc)) from None
        config = ImageConfig(EPOCH, ("LANG=C.UTF-8",), ("python3",), {})
        load_image([base], config, tag)


def _fill(
    folder: Path, base: Layer, sizes: Mapping[str, int], base_tag: str
) -> dict[str, dict[str, object]]:
    """Make each image and push it into the registry folder's store, then check a pull;
    the images by VNF id."""
    (folder / "store").mkdir(exist_ok=True)
    images: dict[str, dict[str, object]] = {}
    address = f"127.0.0.1:{free_port()}"
    with (
        tempfile.TemporaryDirectory(dir=folder) as scratch,
        serving(folder / "store", address, folder / "push.log", read_only=False),
    ):
        for vnf, size in sorted(sizes.items()):
            images[vnf] = asdict(_push(vnf, size, base, address, Path(scratch)))
        _check_pull(address, images, base_tag, Path(scratch))
    return images


def _push(vnf: str, size: int, base: Layer, address: str, scratch: Path) -> VNFImage:
    """One VNF's image made, pushed to the registry at `address`, then taken out of the
    machine's store again (a PoP must find only the base there)."""
    repository = repository_of(vnf)
    tag = f"localhost/{repository}:{secmas.__version__}"
    with tempfile.TemporaryDirectory(dir=scratch) as work:
        tree = Path(work) / "tree" / "opt" / "secmas-vnf"
        tree.mkdir(parents=True)
        (tree / "vnfprobe.py").write_bytes(probe_source())
        described = {"vnf": vnf, "layer_bytes": size, "version": secmas.__version__}
        (tree / "vnf.json").write_text(json.dumps(described, sort_keys=True))
        with (tree / "payload.bin").open("wb") as out:
            for chunk in payload(vnf, size):
                out.write(chunk)
        path = Path(work) / "layer.tar"
        write_layer(Path(work) / "tree", path, EPOCH)
        layer = Layer.of(path, f"secmas VNF {vnf}: vnfprobe.py, vnf.json, payload.bin")
        labels = {
            "org.opencontainers.image.title": repository,
            "org.opencontainers.image.version": secmas.__version__,
            "io.secmas.vnf": vnf,
        }
        config = ImageConfig(EPOCH, ("LANG=C.UTF-8",), ("python3", PROGRAM), labels)
        load_image([base, layer], config, tag)
        digest_file = Path(work) / "digest"
        remote = f"{address}/{repository}:{secmas.__version__}-{size}"
        try:
            podman(["push", "--tls-verify=false", "--digestfile", str(digest_file), tag, remote])
        except PodmanError as exc:
            raise ImageError(f"pushing {repository}: {exc}") from None
        finally:
            podman(["rmi", "--force", tag])
        return VNFImage(vnf, repository, digest_file.read_text().strip(), layer.path.stat().st_size)


def _check_pull(
    address: str, images: Mapping[str, dict[str, object]], base: str, scratch: Path
) -> None:
    """Pull the smallest image into a scratch store that sees the machine's: it must
    not copy the base (otherwise every PoP's pull would move it over the links)."""
    if not images:
        return
    smallest = min(images.values(), key=lambda i: int(str(i["layer_bytes"])))
    store = PopStore(scratch / "check")
    try:
        store.pull(f"{address}/{smallest['repository']}@{smallest['digest']}", ())
        copied = store.size()
    finally:
        store.remove()
    limit = int(str(smallest["layer_bytes"])) + 50_000_000
    if copied > limit:
        raise ImageError(
            f"a pull copied {copied / 1e6:.0f} MB, the NFVI base ({base}) included: podman did "
            "not find it in the machine's store"
        )


@dataclass
class PopStore:
    """A PoP's own image store (`containers-storage.conf` of its own), which sees the
    machine's store read-only as an additional one (the NFVI base is there)."""

    folder: Path

    def __post_init__(self) -> None:
        self.folder = self.folder.resolve()  # podman refuses relative store paths
        (self.folder / "root").mkdir(parents=True, exist_ok=True)
        (self.folder / "run").mkdir(parents=True, exist_ok=True)
        machine = podman(["info", "--format", "{{.Store.GraphRoot}}"]).strip()
        self.conf.write_text(
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{self.folder / "root"}"\n'
            f'runroot = "{self.folder / "run"}"\n'
            "[storage.options]\n"
            f'additionalimagestores = ["{machine}"]\n'
        )

    @property
    def conf(self) -> Path:
        return self.folder / "storage.conf"

    def env(self) -> dict[str, str]:
        return {"CONTAINERS_STORAGE_CONF": str(self.conf)}

    def podman(self, args: list[str], timeout: float = 120.0) -> str:
        return podman(args, env=self.env(), timeout=timeout)

    def pull(self, reference: str, prefix: tuple[str, ...], timeout: float = 600.0) -> float:
        """Pull `reference` (over plain HTTP) into this store, run under `prefix` (e.g.
        `nsenter --net=PATH`, to pull from inside a namespace); the seconds it took."""
        argv = [*prefix, "podman", "pull", "--quiet", "--tls-verify=false", reference]
        started = time.monotonic()
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=environment(self.env()),
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ImageError(f"pulling {reference}: no image in {timeout:g} s") from None
        if done.returncode != 0:
            raise ImageError(f"pulling {reference}: {done.stderr.strip()[-400:]}")
        return time.monotonic() - started

    def size(self) -> int:
        """Bytes of the store's own files."""
        total = 0
        for folder, _dirs, files in os.walk(self.folder / "root"):
            for name in files:
                path = Path(folder) / name
                if not path.is_symlink():
                    total += path.stat().st_size
        return total

    def remove(self) -> None:
        """Remove every container and image of the store, then its folder."""
        for args in (["rm", "--all", "--force", "--time", "2"], ["rmi", "--all", "--force"]):
            with suppress(PodmanError):
                self.podman(args)
        shutil.rmtree(self.folder, ignore_errors=True)


def registry_config(store: Path, address: str, read_only: bool) -> str:
    """docker-registry's configuration: a file system store, plain HTTP at `address`."""
    maintenance = "  maintenance:\n    readonly:\n      enabled: true\n" if read_only else ""
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {store}\n{maintenance}"
        f"http:\n  addr: {address}\n"
    )


@contextmanager
def serving(store: Path, address: str, log: Path, *, read_only: bool) -> Iterator[None]:
    """A registry on the machine serving `store` at `address` while the block runs."""
    config = log.with_suffix(".yml")
    config.write_text(registry_config(store, address, read_only))
    with log.open("ab") as out:
        process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_serving(f"http://{address}/v2/", lambda: process.poll() is None, log)
        yield
    finally:
        end_process(process, grace=5)


def wait_serving(url: str, alive: Callable[[], bool], log: Path) -> None:
    """Wait until the registry at `url` answers; ImageError when it dies or stays silent."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not alive():
            tail = log.read_text(errors="replace")[-400:] if log.exists() else ""
            raise ImageError(f"the registry at {url} stopped: {tail.strip()}")
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise ImageError(f"the registry at {url} did not answer in {START_TIMEOUT_S:g} s")
