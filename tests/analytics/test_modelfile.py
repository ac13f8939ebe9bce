"""Versioned model files: round trip, and a clear refusal of every file that is not one."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from secmas.analytics.modelfile import (
    FORMAT,
    VERSION,
    ModelFileError,
    load_model,
    save_model,
)


def write(path: Path, **fields: Any) -> Path:
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "kind": "autoencoder",
        "config": {},
        "state": {},
        "extras": {},
    }
    payload.update(fields)
    torch.save(payload, path)
    return path


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}
    config = {"features": ["cpu", "load"], "window": 10}
    extras = {"scaler": {"mean": [0.0], "scale": [1.0]}, "value": None}
    save_model(path, "autoencoder", config, state, extras)
    model = load_model(path, "autoencoder")
    assert model.kind == "autoencoder"
    assert model.config == config
    assert model.extras == extras
    assert set(model.state) == {"w", "b"}
    assert torch.equal(model.state["w"], state["w"])
    assert not list(tmp_path.glob(".*partial"))


def test_wrong_kind_is_named(tmp_path: Path) -> None:
    path = tmp_path / "p.pt"
    save_model(path, "profiler", {}, {}, {})
    with pytest.raises(ModelFileError) as caught:
        load_model(path, "autoencoder")
    assert str(caught.value) == f"{path} holds a 'profiler' model, expected 'autoencoder'"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"nope\.pt: no such file"):
        load_model(tmp_path / "nope.pt", "autoencoder")


@pytest.mark.parametrize("content", [b"", b"cpu,load\n1,2\n", bytes(range(256))])
def test_not_a_torch_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=r"x\.pt is not a secmas model file \(not a PyTorch"):
        load_model(path, "autoencoder")


def test_a_zip_that_is_not_a_torch_file(tmp_path: Path) -> None:
    path = tmp_path / "z.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ModelFileError, match="not a PyTorch file"):
        load_model(path, "autoencoder")


def test_a_torch_file_that_is_not_a_dict(tmp_path: Path) -> None:
    path = tmp_path / "l.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(ModelFileError, match="holds a list, not a model dictionary"):
        load_model(path, "autoencoder")


def test_pickled_objects_are_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "o.pt"
    torch.save({"format": FORMAT, "x": zipfile.ZipInfo("a")}, path)
    with pytest.raises(ModelFileError, match="objects other than tensors"):
        load_model(path, "autoencoder")


def test_another_format(tmp_path: Path) -> None:
    path = write(tmp_path / "f.pt", format="keras")
    with pytest.raises(ModelFileError, match="no 'secmas-model' format mark"):
        load_model(path, "autoencoder")


@pytest.mark.parametrize(
    ("version", "message"),
    [(VERSION + 1, "newer than this secmas reads"), (0, "older than this secmas reads")],
)
def test_other_versions(tmp_path: Path, version: int, message: str) -> None:
    path = write(tmp_path / "v.pt", version=version)
    with pytest.raises(ModelFileError, match=message) as caught:
        load_model(path, "autoencoder")
    assert str(path) in str(caught.value)


def test_malformed_body(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no config dictionary"):
        load_model(write(tmp_path / "c.pt", config=[1]), "autoencoder")
    with pytest.raises(ModelFileError, match="state 'w' not a tensor"):
        load_model(write(tmp_path / "s.pt", state={"w": 1.0}), "autoencoder")


def test_save_refuses_what_could_not_be_loaded_safely(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="extras is not plain data"):
        save_model(tmp_path / "m.pt", "autoencoder", {}, {}, {"x": object()})
    with pytest.raises(ModelFileError, match="'w' is not a tensor"):
        save_model(tmp_path / "m.pt", "autoencoder", {}, {"w": [1.0]}, {})  # type: ignore[dict-item]


def test_save_into_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot write"):
        save_model(tmp_path / "no" / "m.pt", "autoencoder", {}, {}, {})
