"""An OCI image's files as a reference measurement, and a running container checked
against it (SECaaS wraps the image itself).

SECaaS wraps the agent image as it wraps a Python package or an ELF file
(`secmas.trust.wrap`): the image's files are the parts of a signed `ReferenceManifest` of
kind `oci`, each named by its path inside the image, each digest covering what the file
is: its type, permission bits (setuid included) and owner, and its bytes (a regular
file), its target (a link) or its device numbers.

One walk measures the image (its root as `podman image mount` shows it) and a running
container (its root as the host sees it, `/proc/PID/root` of the agent's process). The
walk opens every directory and file relative to its parent's descriptor and never
follows a link, so a link planted in the container (to the host's `/etc`, say) is
measured as a link, never read through; only regular files are read (a FIFO or a device
is never opened). A file is hashed once per version (device, inode, size, mtime, ctime,
as IMA and the external measurer do, `secmas.trust.measurer_probe`), so a check costs the
walk and what changed.

A container's root also holds mounts: the runtime's (/proc, /dev, /sys, the tmpfs on
/run and /tmp of a read-only container, /etc/hosts, …) and those its driver adds. What is
beneath a mount is not the image's and is left out on both sides, but a mount anywhere
else than where one is expected is a finding: it hides image files. The process's mapped
files (interpreter, libraries, extension modules, from `/proc/PID/maps`) must be files of
the image with their reference digests, read through `/proc/PID/map_files`, which opens
the object mapped even when its path has been replaced since.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secmas.trust.compiled import RACY_NS, FileVersion
from secmas.trust.digests import diff_entries, root_digest
from secmas.trust.manifest import ReferenceManifest, sign, verify_signature
from secmas.trust.procmem import ProcessMemoryError, Region, read_maps
from secmas.trust.wrap import Verification

KIND = "oci"
RUNTIME_MOUNTS = (
    "/proc",
    "/dev",
    "/sys",
    "/run",
    "/tmp",
    "/var/tmp",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
)
"""Where podman mounts into every container (a read-only one gets tmpfs on /run, /tmp and
/var/tmp): what lies beneath is not the image's."""
_DOMAIN = b"secmas/image-file/1\x00"
_CHUNK = 1 << 20
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ESCAPE = re.compile(r"\\([0-7]{3})")


class ContainerError(Exception):
    """A container process whose root, mounts or maps cannot be read."""


def entry_digest(kind: str, info: os.stat_result, content: str = "") -> str:
    """The digest of one image file: kind, permission bits, owner, then its content's
    digest, a link's target or a device's numbers."""
    fields = (kind, f"{stat.S_IMODE(info.st_mode):o}", str(info.st_uid), str(info.st_gid), content)
    return hashlib.sha256(
        _DOMAIN + "\x00".join(fields).encode(errors="surrogateescape")
    ).hexdigest()


@dataclass
class FileHashes:
    """Content digests by path, reused while the file's version stays the same (a file
    changed in the last `RACY_NS` is hashed again: its times may not show a change yet)."""

    seen: dict[str, tuple[FileVersion, str]] = field(default_factory=dict)

    def content(self, path: str, fd: int) -> str:
        """The SHA-256 of the regular file open at `fd`, which is `path` in the image."""
        info = os.fstat(fd)
        version = FileVersion.of(info)
        kept = self.seen.get(path)
        if kept is not None and kept[0] == version:
            return kept[1]
        digest = hashlib.sha256()
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
        if time.time_ns() - info.st_ctime_ns > RACY_NS:
            self.seen[path] = (version, digest.hexdigest())
        return digest.hexdigest()


def measure_root(
    root: Path, skip: Collection[str] = (), hashes: FileHashes | None = None
) -> dict[str, str]:
    """Every file, directory, link and device under `root`, by its path inside
    (`/usr/bin/python3.11`), with its `entry_digest`; nothing at or beneath a path of
    `skip` (mount points)."""
    found: dict[str, str] = {}
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # /proc/PID/root is a link
    try:
        _walk(fd, "", frozenset(skip), found, hashes or FileHashes())
    finally:
        os.close(fd)
    return found


def _walk(
    directory: int, prefix: str, skip: frozenset[str], found: dict[str, str], hashes: FileHashes
) -> None:
    with os.scandir(directory) as listing:
        names = sorted(entry.name for entry in listing)
    for name in names:
        path = f"{prefix}/{name}"
        if path in skip:
            continue
        try:
            info = os.stat(name, dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:  # removed while walking
            continue
        mode = info.st_mode
        if stat.S_ISDIR(mode):
            found[path] = entry_digest("dir", info)
            _descend(directory, name, path, skip, found, hashes)
        elif stat.S_ISREG(mode):
            found[path] = _regular(directory, name, path, info, hashes)
        elif stat.S_ISLNK(mode):
            found[path] = entry_digest("link", info, os.readlink(name, dir_fd=directory))
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            kind = "char" if stat.S_ISCHR(mode) else "block"
            numbers = f"{os.major(info.st_rdev)}:{os.minor(info.st_rdev)}"
            found[path] = entry_digest(kind, info, numbers)
        else:
            found[path] = entry_digest("fifo" if stat.S_ISFIFO(mode) else "socket", info)


def _descend(
    directory: int,
    name: str,
    path: str,
    skip: frozenset[str],
    found: dict[str, str],
    hashes: FileHashes,
) -> None:
    try:
        child = os.open(name, _OPEN_DIR, dir_fd=directory)
    except OSError:  # replaced since (by a link: not followed); its files count as missing
        return
    try:
        _walk(child, path, skip, found, hashes)
    finally:
        os.close(child)


def _regular(directory: int, name: str, path: str, info: os.stat_result, hashes: FileHashes) -> str:
    try:
        fd = os.open(name, _OPEN_FILE, dir_fd=directory)
    except OSError:
        return entry_digest("unreadable", info)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):  # swapped for something else since
            return entry_digest("unreadable", opened)
        return entry_digest("file", opened, hashes.content(path, fd))
    finally:
        os.close(fd)


def wrap_root(root: Path, key: Ed25519PrivateKey, image: str, version: str) -> ReferenceManifest:
    """SECaaS's signed reference manifest of the image whose root is `root`."""
    entries = measure_root(root)
    manifest = ReferenceManifest(
        kind=KIND, image=image, version=version, entries=entries, root=root_digest(entries.items())
    )
    return sign(manifest, key)


def verify_root(
    root: Path,
    manifest: ReferenceManifest,
    trusted: Ed25519PublicKey,
    skip: Collection[str] = (),
    hashes: FileHashes | None = None,
) -> Verification:
    """Check the files under `root` against an image manifest signed by `trusted`,
    leaving out what lies beneath `skip` on both sides."""
    if not verify_signature(manifest, trusted):
        return Verification(bad_signature=True)
    _require_image(manifest)
    return _compare(manifest.entries, measure_root(root, skip, hashes), skip)


def _require_image(manifest: ReferenceManifest) -> None:
    if manifest.kind != KIND:
        raise ValueError(f"{manifest.image}: not an OCI image manifest ({manifest.kind})")


def _compare(
    entries: Mapping[str, str], measured: Mapping[str, str], skip: Collection[str]
) -> Verification:
    reference = {path: d for path, d in entries.items() if not _beneath(path, skip)}
    diff = diff_entries(reference, measured)
    same_root = root_digest(measured.items()) == root_digest(reference.items())
    return Verification(
        root_matches=same_root, changed=diff.changed, missing=diff.missing, extra=diff.extra
    )


def _beneath(path: str, tops: Collection[str]) -> bool:
    """Whether `path` is one of `tops` or lies under one."""
    return any(path == top or path.startswith(top.rstrip("/") + "/") for top in tops)


@dataclass(frozen=True)
class ContainerCheck:
    """A running container against its image's reference: its files, the mounts that
    hide image files, and the mapped files that are not the image's."""

    files: Verification
    mounts: tuple[str, ...] = ()
    mapped: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        """One line per reason the check failed; empty when it passed."""
        return [*self.files.problems(), *self.mounts, *self.mapped]


def mount_points(pid: int) -> list[str]:
    """Where things are mounted in the process's view (`/proc/PID/mountinfo`, field 5)."""
    text = Path(f"/proc/{pid}/mountinfo").read_text(encoding="utf-8", errors="surrogateescape")
    return [
        _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), line.split()[4])
        for line in text.splitlines()
    ]


def check_container(
    pid: int,
    manifest: ReferenceManifest,
    trusted: Ed25519PublicKey,
    expected_mounts: Collection[str] = RUNTIME_MOUNTS,
    hashes: FileHashes | None = None,
) -> ContainerCheck:
    """Check the container whose process is `pid` (a host PID) against the image
    manifest signed by `trusted`: every file of its root, its mounts (only at or beneath
    `expected_mounts`) and the files the process maps. ContainerError when the process
    is gone or cannot be read."""
    if not verify_signature(manifest, trusted):
        return ContainerCheck(Verification(bad_signature=True))
    _require_image(manifest)
    hashes = hashes or FileHashes()
    try:
        points = mount_points(pid)
        inner = sorted({p for p in points if p != "/"})
        measured = measure_root(Path(f"/proc/{pid}/root"), inner, hashes)
        regions = read_maps(pid)
    except (OSError, ProcessMemoryError) as exc:
        raise ContainerError(f"cannot read process {pid}: {exc}") from None
    mounts = [f"{p} is mounted over the image" for p in inner if not _beneath(p, expected_mounts)]
    if points.count("/") > 1:
        mounts.append("/ is mounted over the image")
    return ContainerCheck(
        _compare(manifest.entries, measured, inner),
        tuple(mounts),
        tuple(_mapped_problems(pid, regions, manifest.entries, hashes)),
    )


def _mapped_problems(
    pid: int, regions: list[Region], entries: Mapping[str, str], hashes: FileHashes
) -> list[str]:
    """What is wrong with the files the process maps: deleted, not the image's, or not
    the image's bytes (read from the mapping itself)."""
    problems: list[str] = []
    seen: set[tuple[int, int]] = set()
    for region in regions:
        if not _maps_a_file(region) or (region.device, region.inode) in seen:
            continue
        seen.add((region.device, region.inode))
        path = region.path
        if path.endswith(" (deleted)"):
            problems.append(f"maps a deleted file {path.removesuffix(' (deleted)')}")
        elif path not in entries:
            problems.append(f"maps {path}, not a file of the image")
        elif _mapped_digest(pid, region, hashes) not in (None, entries[path]):
            problems.append(f"mapped file {path} differs from the image")
    return problems


def _maps_a_file(region: Region) -> bool:
    """A file mapping that counts: executable, or private (the loader's), as the external
    measurer counts them; shared data (a semaphore in /dev/shm) is not code."""
    if not region.path.startswith("/"):
        return False
    return region.executable or "s" not in region.perms


def _mapped_digest(pid: int, region: Region, hashes: FileHashes) -> str | None:
    """The `entry_digest` of the object mapped at `region`; None where the kernel does not
    let this process open it (`map_files` needs CAP_SYS_ADMIN): the walk read its path."""
    where = f"/proc/{pid}/map_files/{region.start:x}-{region.end:x}"
    try:
        fd = os.open(where, os.O_RDONLY | os.O_CLOEXEC)
    except PermissionError:
        return None
    except OSError:  # unmapped since
        return None
    try:
        info = os.fstat(fd)
        return entry_digest("file", info, hashes.content(f"map:{region.path}", fd))
    finally:
        os.close(fd)
