"""Whether a run may write its files into a folder: the same rule for the `secmas`
command (`--out`, `--force`) and the Python API (`out`, `force`), checked before any work.

A folder that already holds files is written over only when the caller says so, and one
holding an SSLA audit log never: audit logs are evidence. Imports nothing heavy, so that
the command's argument checks run before it loads what a run needs.
"""

from __future__ import annotations

from pathlib import Path

AUDIT_LOG = "audit.jsonl"
"""The SSLA manager's audit log (`secmas.policy.audit.AUDIT_FILE`): never overwritten."""
SHOWN = 3
"""Entries of a folder named in a refusal."""


def refusal(folder: Path, force: bool, force_hint: str) -> str | None:
    """Why a run may not write its files into `folder` (None: it may), `force_hint` naming
    how the caller writes over a folder that holds files."""
    if not folder.is_dir():
        return None
    entries = sorted(entry.name for entry in folder.iterdir())
    if AUDIT_LOG in entries:
        return (
            f"{folder} holds the audit log of an earlier run: choose another folder "
            "(audit logs are never overwritten)"
        )
    if not entries or force:
        return None
    shown = ", ".join(entries[:SHOWN]) + (", …" if len(entries) > SHOWN else "")
    return (
        f"{folder} already holds files ({shown}): {force_hint} to write over them, or choose "
        "another folder"
    )
