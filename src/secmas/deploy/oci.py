"""An OCI image written file by file, so that an image is a function of its inputs.

`podman build` and `podman import` stamp every layer's files and the image's
configuration with the time of the build, so two builds of the same sources differ. Here a
layer is a tarball written by `write_layer` (or by mmdebstrap, which is reproducible under
SOURCE_DATE_EPOCH): entries in sorted order, one fixed mtime, owner root with no names,
permission bits as they are, no compression. `write_layout` puts the layers and a
configuration whose creation time is that same fixed moment into an OCI image layout
(image-spec 1.0: `oci-layout`, `index.json`, `blobs/sha256/`), which `podman load` reads.
The same layers then give the same layer digests (the config's `rootfs.diff_ids`) and the
same image id (the config's digest).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LAYER_MEDIA = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MEDIA = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA = "application/vnd.oci.image.manifest.v1+json"
_CHUNK = 1 << 20


class LayerError(ValueError):
    """A tree that cannot become a layer (a device or socket in it)."""


def file_digest(path: Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Layer:
    """One uncompressed layer tarball: its file, digest (its diff id, hex) and history line."""

    path: Path
    digest: str
    created_by: str

    @classmethod
    def of(cls, path: Path, created_by: str) -> Layer:
        return cls(path, file_digest(path), created_by)


def write_layer(tree: Path, out: Path, mtime: int) -> str:
    """Write the files under `tree` as a layer tarball at `out` (see the module
    docstring) and return its SHA-256."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in _sorted_tree(tree):
            entry = _entry(tree, path, mtime)
            if entry.isreg():
                with path.open("rb") as stream:
                    tar.addfile(entry, stream)
            else:
                tar.addfile(entry)
    return file_digest(out)


def _sorted_tree(tree: Path) -> Iterator[Path]:
    """Every path under `tree`, parents first, siblings by name (byte order)."""
    for entry in sorted(os.scandir(tree), key=lambda e: os.fsencode(e.name)):
        path = Path(entry.path)
        yield path
        if entry.is_dir(follow_symlinks=False):
            yield from _sorted_tree(path)


def _entry(tree: Path, path: Path, mtime: int) -> tarfile.TarInfo:
    info = os.lstat(path)
    entry = tarfile.TarInfo(path.relative_to(tree).as_posix())
    entry.mode = stat.S_IMODE(info.st_mode)
    entry.uid = entry.gid = 0
    entry.uname = entry.gname = ""
    entry.mtime = mtime
    if stat.S_ISDIR(info.st_mode):
        entry.type = tarfile.DIRTYPE
        return entry
    if stat.S_ISLNK(info.st_mode):
        entry.type = tarfile.SYMTYPE
        entry.linkname = os.readlink(path)
        return entry
    if not stat.S_ISREG(info.st_mode):
        raise LayerError(f"{path}: not a file, directory or symbolic link")
    entry.size = info.st_size
    return entry


@dataclass(frozen=True)
class ImageConfig:
    """What the image's configuration says beside its layers."""

    created: int
    """Seconds since the epoch: the fixed moment of every build (SOURCE_DATE_EPOCH)."""
    env: tuple[str, ...]
    cmd: tuple[str, ...]
    labels: Mapping[str, str]

    def document(self, layers: Sequence[Layer]) -> dict[str, object]:
        moment = datetime.fromtimestamp(self.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "architecture": "amd64",
            "os": "linux",
            "created": moment,
            "config": {
                "Env": list(self.env),
                "Cmd": list(self.cmd),
                "WorkingDir": "/",
                "Labels": dict(sorted(self.labels.items())),
            },
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{la.digest}" for la in layers]},
            "history": [{"created": moment, "created_by": la.created_by} for la in layers],
        }


def write_layout(folder: Path, layers: Sequence[Layer], config: ImageConfig) -> str:
    """An OCI image layout of `layers` and `config` in the new folder `folder` (layer
    blobs are hard links where the file system allows); returns the config's digest,
    which podman takes as the image id."""
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for layer in layers:
        _link(layer.path, blobs / layer.digest)
    config_digest, config_size = _blob(blobs, config.document(layers))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA,
        "config": {
            "mediaType": CONFIG_MEDIA,
            "digest": f"sha256:{config_digest}",
            "size": config_size,
        },
        "layers": [
            {
                "mediaType": LAYER_MEDIA,
                "digest": f"sha256:{la.digest}",
                "size": la.path.stat().st_size,
            }
            for la in layers
        ],
    }
    manifest_digest, manifest_size = _blob(blobs, manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": MANIFEST_MEDIA,
                "digest": f"sha256:{manifest_digest}",
                "size": manifest_size,
            }
        ],
    }
    (folder / "index.json").write_text(json.dumps(index))
    (folder / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return config_digest


def _blob(blobs: Path, document: object) -> tuple[str, int]:
    data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return digest, len(data)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copyfile(source, target)
