"""Measured file versions kept on disk, shared by every process of this user.

Each agent process, sweep worker and CLI run measures the same few hundred `.py` files
(the agent's package, the standard library and site-packages code it imports); compiling
them is most of a first measurement, and with agents as processes it was paid once per
agent. `secmas.trust.compiled` keeps a measured file per version in memory; this store
keeps the same records in `$SECMAS_HOME/cache`, one SQLite file per interpreter and digest
algorithm, so a file is compiled once per version on the machine.

It is trusted as Python's own `__pycache__` is (bytecode kept per source mtime and size),
with a stricter key: the whole `FileVersion` (device, inode, size, mtime, ctime), which a
writer cannot put back. Whoever can write the store can already write the code it
describes, so it is refused when it or its folder belongs to another user or anyone else
may write it. It is a cache: a measurement waits at most `BUSY_WAIT_S` for another
process's write, and any other error opening, reading or writing it turns it off for the
process; either way the file is compiled as before.

Agents that a root driver starts as the agent user (`secmas.pipeline.agentuser`) have a
home of their own, empty: each compiled every file again, seconds of CPU per agent that
dominated a bring-up of many agent processes. The driver hands them a read-only copy of
its store instead (`copy_to`, opened `shared`): root's, which the agent user may read but
not write, describing files that only root may write; a file the copy does not hold, or
holds for another version, is compiled as before.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from urllib.parse import quote

from secmas.trust.keys import check_private

log = logging.getLogger(__name__)

BUSY_WAIT_S = 0.2
"""How long a read or write waits for another process's write: a measurement never waits
on the cache for longer (it compiles, or does not keep, instead)."""
_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")
_SCHEMA = "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, version TEXT, record BLOB)"


class SourceStore:
    """Records keyed by file path and version, in one SQLite file (WAL, so processes read
    while one writes). A connection is opened per process (one made before a fork is not
    used after it) and shared by its threads under a lock."""

    def __init__(self, path: Path, *, shared: bool = False):
        self.path = path
        self.shared = shared
        """A copy another user (root) made for this one: read, never written."""
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._off = False

    def get(self, key: str, version: str) -> bytes | None:
        """The record kept for this version of the file; None when none is (or the store
        is off)."""
        row = self._execute("SELECT version, record FROM files WHERE path = ?", (key,))
        if row is None or row[0] != version:
            return None
        return bytes(row[1])

    def put(self, key: str, version: str, record: bytes) -> None:
        """Keep `record` as this file's, replacing an older version's (not in a shared
        copy)."""
        if self.shared:
            return
        self._execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?)", (key, version, record))

    def _execute(self, sql: str, parameters: tuple[object, ...]) -> tuple[object, ...] | None:
        with self._lock:
            if self._off:
                return None
            try:
                connection = self._connect()
                with connection:
                    return connection.execute(sql, parameters).fetchone()
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorname", "") in _BUSY:
                    return None  # another process is writing: not kept or not found, this time
                log.info("measured-file store %s off for this process: %s", self.path, exc)
                self._off = True
                return None
            except (OSError, sqlite3.Error) as exc:
                log.info("measured-file store %s off for this process: %s", self.path, exc)
                self._off = True
                return None

    def copy_to(self, path: Path) -> None:
        """A consistent copy of the store at `path` (a new file, readable by all, in a
        folder only its maker may write), for processes of another user to open `shared`;
        OSError or sqlite3.Error when it cannot be made."""
        with self._lock:
            source = self._connect()
            target = sqlite3.connect(path)
            try:
                source.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")  # one file: read without -shm
            finally:
                target.close()
        path.chmod(0o644)

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        if self.shared:
            return self._connect_shared()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        check_private(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        check_private(self.path)
        connection = sqlite3.connect(self.path, timeout=BUSY_WAIT_S, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(_SCHEMA)
        self._connection, self._pid = connection, os.getpid()
        return connection

    def _connect_shared(self) -> sqlite3.Connection:
        """Read-only and immutable (no lock, no journal): its maker never writes it again."""
        check_private(self.path.parent, root_too=True)
        check_private(self.path, root_too=True)
        uri = f"file:{quote(str(self.path))}?mode=ro&immutable=1"
        connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._connection, self._pid = connection, os.getpid()
        return connection
