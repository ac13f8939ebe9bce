"""What an agent process sees of the host's files: its runtime, even behind root's folders.

The agent user must read the interpreter, its libraries and secmas to run at all. Where
one of them lies under a folder it may not search (a pyenv build or a checkout under
/root, mode 0700), the launcher (`secmas.pipeline.agentuser`, still root) gives the agent
a mount namespace of its own before it drops to the agent user: over each such folder a
fresh, empty one (tmpfs, 0755) into which it binds exactly the paths the agent needs,
each where it was, with the symbolic links that lead to them. Everything else in that
folder is gone from the agent's view; what it may reach is still governed by each file's
own mode bits, and the agent, holding no capability, can neither unmount a folder nor
see under it. Where nothing needed is out of reach, no namespace is made.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_CLONE_NEWNS = 0x00020000
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_MAX_LINKS = 40


class AgentViewError(OSError):
    """The agent's view could not be made (the message says which step and why)."""


def allowed(status: os.stat_result, uid: int, gid: int, need: int) -> bool:
    """Whether the mode bits give `uid`/`gid` `need` (as the others' bits: r=4, x=1)."""
    if status.st_uid == uid:
        shift = 6
    elif status.st_gid == gid:
        shift = 3
    else:
        shift = 0
    return (status.st_mode >> shift) & need == need


def trail(path: Path) -> list[Path]:
    """Every path the kernel reaches on its way to `path`: each symbolic link followed,
    where it lies, then the file itself; none of them has a link among its folders."""
    found: list[Path] = []
    full = path if path.is_absolute() else Path.cwd() / path  # ".." as the kernel takes it
    current, rest = Path("/"), list(full.parts[1:])
    while rest:
        name = rest.pop(0)
        candidate = current.parent if name == ".." else current / name
        if name in (".", ".."):
            current = candidate
        elif candidate.is_symlink():
            if len(found) == _MAX_LINKS:
                raise AgentViewError(f"{path}: too many symbolic links")
            found.append(candidate)
            target = Path(os.readlink(candidate))
            current = Path("/") if target.is_absolute() else current
            rest = [*target.parts[1 if target.is_absolute() else 0 :], *rest]
        else:
            current = candidate
    return [*found, current]


@dataclass(frozen=True)
class Cover:
    """A folder the agent may not search, and what it needs beneath it."""

    folder: Path
    needed: tuple[Path, ...]


def covers(paths: Iterable[Path], uid: int, gid: int) -> list[Cover]:
    """Where the agent's view must differ from the host's for user `uid` (group `gid`)
    to reach `paths`: the topmost folder on the way to each that it may not search,
    with the paths under it (none beneath another, which brings it)."""
    under: dict[Path, set[Path]] = {}
    for path in paths:
        for reached in trail(path):
            folder = _blocked(reached, uid, gid)
            if folder is not None:
                under.setdefault(folder, set()).add(reached)
    found = []
    for folder, needed in sorted(under.items()):
        kept: list[Path] = []
        for path in sorted(needed):
            if not any(k in path.parents for k in kept):
                kept.append(path)
        found.append(Cover(folder, tuple(kept)))
    return found


def _blocked(path: Path, uid: int, gid: int) -> Path | None:
    for folder in reversed(path.parents):
        if not allowed(folder.stat(), uid, gid, stat.S_IXOTH):
            return folder
    return None


def expose(paths: Iterable[Path], uid: int, gid: int) -> list[Cover]:
    """Give this (root, single-threaded) process and its children a mount namespace in
    which user `uid` reaches `paths` (module docstring); what was covered. Nothing is
    done when it reaches them already. AgentViewError when a step fails."""
    found = covers(paths, uid, gid)
    if not found:
        return found
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS) != 0:
        raise AgentViewError(_failed("unshare(CLONE_NEWNS)"))
    _mount(libc, None, Path("/"), None, _MS_REC | _MS_PRIVATE)  # nothing leaks to the host
    for cover in found:
        _cover(libc, cover)
    return found


def _cover(libc: ctypes.CDLL, cover: Cover) -> None:
    """An empty folder over `cover.folder`, holding its needed paths from beneath it."""
    below = os.open(cover.folder, os.O_PATH | os.O_DIRECTORY)
    try:
        _mount(libc, "tmpfs", cover.folder, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755")
        for path in cover.needed:
            relative = path.relative_to(cover.folder)
            source = Path(f"/proc/self/fd/{below}") / relative
            _folders(cover.folder, relative.parent)
            if source.is_symlink():
                path.symlink_to(os.readlink(source))
                continue
            if source.is_dir():
                path.mkdir(mode=0o755)
            else:
                path.touch(mode=0o644)
            _mount(libc, str(source), path, None, _MS_BIND | _MS_REC)
    finally:
        os.close(below)


def _folders(top: Path, relative: Path) -> None:
    """The folders of `relative` under `top`, made searchable by all (whatever umask)."""
    folder = top
    for name in relative.parts:
        folder = folder / name
        if not folder.is_dir():
            folder.mkdir()
            folder.chmod(0o755)


def _mount(
    libc: ctypes.CDLL,
    source: str | None,
    target: Path,
    kind: str | None,
    flags: int,
    data: str | None = None,
) -> None:
    encoded = [None if s is None else s.encode() for s in (source, str(target), kind, data)]
    mounted = libc.mount(encoded[0], encoded[1], encoded[2], ctypes.c_ulong(flags), encoded[3])
    if mounted != 0:
        raise AgentViewError(_failed(f"mount {source or kind or ''} on {target}"))


def _failed(step: str) -> str:
    error = ctypes.get_errno()
    return f"{step}: {os.strerror(error)}"
