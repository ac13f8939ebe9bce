"""Versioned model files: one format for every trained secmas model.

A model file is `torch.save` of a plain dictionary

    {"format": "secmas-model", "version": 1, "kind": "autoencoder" | "profiler" | …,
     "config": {...}, "state": {name: tensor}, "extras": {...}}

where `config` (what rebuilds the network: features, window, sizes) and `extras` (scaler,
thresholds, training history) hold JSON-able data only. Files are read back with
`torch.load(weights_only=True)`, which unpickles nothing but tensors and plain containers,
so opening a model file cannot run code. A file of another format, version or kind is
refused with a `ModelFileError` naming the file and the problem.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "FORMAT",
    "VERSION",
    "ModelFile",
    "ModelFileError",
    "load_model",
    "malformed",
    "save_model",
]

FORMAT = "secmas-model"
VERSION = 1


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ModelFile:
    """The content of a model file."""

    kind: str
    config: dict[str, Any]
    state: dict[str, torch.Tensor]
    extras: dict[str, Any]


def _json_able(path: Path, name: str, value: dict[str, Any]) -> None:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: the model's {name} is not plain data ({exc})") from None


def save_model(
    path: str | os.PathLike[str],
    kind: str,
    config: dict[str, Any],
    state: dict[str, torch.Tensor],
    extras: dict[str, Any],
) -> None:
    """Write a model file (atomically: a partial write never replaces a good file).

    Raises ModelFileError when `config` or `extras` hold anything but JSON-able data, or
    when the file cannot be written.
    """
    target = Path(path)
    if not kind:
        raise ModelFileError(f"{target}: a model needs a kind")
    _json_able(target, "config", config)
    _json_able(target, "extras", extras)
    tensors = {}
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor):
            raise ModelFileError(f"{target}: state entry {name!r} is not a tensor")
        tensors[str(name)] = tensor.detach().cpu().clone()
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "config": config,
        "state": tensors,
        "extras": extras,
    }
    if not target.parent.is_dir():
        raise ModelFileError(f"cannot write {target}: no folder {target.parent}")
    partial = target.with_name(f".{target.name}.partial")
    try:
        torch.save(payload, partial)
        partial.replace(target)
    except (OSError, RuntimeError) as exc:  # torch reports some I/O errors as RuntimeError
        partial.unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ModelFileError(f"cannot write {target}: {reason}") from None


def _read(path: Path) -> Any:
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file")
    not_torch = ModelFileError(f"{path} is not a secmas model file (not a PyTorch file)")
    try:
        if not zipfile.is_zipfile(path):  # torch.save writes a zip archive
            raise not_torch
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # weights_only refuses anything but tensors and plain containers.
        raise ModelFileError(
            f"{path} is not a secmas model file (it holds objects other than tensors and "
            "plain data, which are not loaded)"
        ) from None
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception:  # a damaged archive fails in many ways inside torch
        raise not_torch from None


def _check_header(path: Path, payload: Any, kinds: tuple[str, ...] | None) -> str:
    if not isinstance(payload, dict):
        raise ModelFileError(
            f"{path} is not a secmas model file (it holds a {type(payload).__name__}, "
            "not a model dictionary)"
        )
    if payload.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a secmas model file (no {FORMAT!r} format mark)")
    version = payload.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{path}: malformed model file (version {version!r})")
    if version > VERSION:
        raise ModelFileError(
            f"{path} has model format version {version}, newer than this secmas reads "
            f"({VERSION}): upgrade secmas"
        )
    if version < VERSION:
        raise ModelFileError(
            f"{path} has model format version {version}, older than this secmas reads "
            f"({VERSION}): fit the model again"
        )
    found = payload.get("kind")
    if not isinstance(found, str) or not found:
        raise ModelFileError(f"{path}: malformed model file (kind {found!r})")
    if kinds is not None and found not in kinds:
        expected = " or ".join(repr(k) for k in kinds)
        raise ModelFileError(f"{path} holds a {found!r} model, expected {expected}")
    return str(found)


def _check_body(path: Path, payload: dict[str, Any]) -> None:
    for name in ("config", "state", "extras"):
        if not isinstance(payload.get(name), dict):
            raise ModelFileError(f"{path}: malformed model file (no {name} dictionary)")
    for name, tensor in payload["state"].items():
        if not isinstance(tensor, torch.Tensor):
            raise ModelFileError(f"{path}: malformed model file (state {name!r} not a tensor)")


def load_model(path: str | os.PathLike[str], kind: str | tuple[str, ...] | None) -> ModelFile:
    """Read a model file of the given kind (or of any of several, or None: of any kind, for
    the caller to dispatch on); ModelFileError names the file and the problem."""
    source = Path(path)
    payload = _read(source)
    found = _check_header(source, payload, (kind,) if isinstance(kind, str) else kind)
    _check_body(source, payload)
    return ModelFile(found, payload["config"], payload["state"], payload["extras"])


def malformed(path: str | os.PathLike[str], kind: str, exc: Exception) -> ModelFileError:
    """The error for a model file whose content does not rebuild a model (`exc`, raised
    while rebuilding it), naming the file, the kind and the first line of the reason."""
    reason = exc.args[0] if exc.args else type(exc).__name__
    if isinstance(exc, KeyError):
        reason = f"missing field {reason!r}"
    first = str(reason).strip().splitlines()[0]
    return ModelFileError(f"{path}: malformed {kind} model ({first})")
