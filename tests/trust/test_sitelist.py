"""The platform allow-list (`secmas.trust.sitelist`): made once, signed, kept in the release
store, handed to agents; a bad, missing or foreign one is refused naming its file and fix."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.keys import signing_key
from secmas.trust.sitelist import (
    PLATFORM_ENV,
    AllowListError,
    PlatformAllowList,
    held,
    made_once,
    releases_path,
    store_allowlist,
    this_install,
)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SECMAS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SECMAS_RELEASES", str(tmp_path / "home" / "releases.db"))
    monkeypatch.delenv(PLATFORM_ENV, raising=False)
    return releases_path()


@pytest.fixture(scope="module")
def allowlist() -> PlatformAllowList:
    return PlatformAllowList.made(Ed25519PrivateKey.generate())


def test_made_once_then_found_and_held(store: Path) -> None:
    first, made = made_once(signing_key(), store)
    again, made_again = made_once(signing_key(), store)
    assert made and not made_again and again == first
    assert held() == first
    assert first.modules() and all(p.endswith(".py") for p in first.modules())
    assert json.__file__ not in first.modules()  # the standard library is a root, not listed


def test_an_allow_list_signed_by_another_key_is_refused_naming_the_store(
    store: Path, allowlist: PlatformAllowList
) -> None:
    store_allowlist(allowlist, store)
    with pytest.raises(AllowListError, match="untrusted signature") as refused:
        held()
    assert str(store) in str(refused.value) and "secmas wrap --release" in str(refused.value)


def test_an_edited_row_is_refused(store: Path) -> None:
    made_once(signing_key(), store)
    with sqlite3.connect(store) as db:
        (document,) = db.execute("SELECT document FROM platforms").fetchone()
        data = json.loads(document)
        data["files"]["/tmp/implant.py"] = "00" * 32
        db.execute("UPDATE platforms SET document = ?", (json.dumps(data),))
    with pytest.raises(AllowListError, match=r"releases\.db .*bad, missing or untrusted"):
        held()


def test_a_store_that_is_no_database_is_named(store: Path) -> None:
    store.parent.mkdir(parents=True)
    store.write_text("not sqlite")
    with pytest.raises(AllowListError, match=rf"{store}: cannot read the release store"):
        held()


def test_a_handed_allow_list_is_held(
    store: Path, allowlist: PlatformAllowList, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed = tmp_path / "platform.json"
    handed.write_text(allowlist.encode())
    monkeypatch.setenv(PLATFORM_ENV, str(handed))
    assert held() == allowlist
    assert not store.exists()  # an agent that may not read the store never opens it


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["files"].update({"/tmp/x.py": "00" * 32}), "bad or missing signature"),
        (lambda d: d.update(format="other"), "not a platform allow-list"),
        (lambda d: d.pop("files"), "not a platform allow-list"),
    ],
)
def test_a_bad_handed_allow_list_is_named(
    store: Path,
    allowlist: PlatformAllowList,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: object,
    message: str,
) -> None:
    data = json.loads(allowlist.encode())
    assert callable(change)
    change(data)
    handed = tmp_path / "platform.json"
    handed.write_text(json.dumps(data))
    monkeypatch.setenv(PLATFORM_ENV, str(handed))
    with pytest.raises(AllowListError, match=f"{handed} \\({PLATFORM_ENV}\\): .*{message}"):
        held()


def test_another_install_s_allow_list_is_refused(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Ed25519PrivateKey.generate()
    other = PlatformAllowList("/opt/other", "2025-01-01T00:00:00+00:00", {}).sign(key)
    handed = tmp_path / "platform.json"
    handed.write_text(other.encode())
    monkeypatch.setenv(PLATFORM_ENV, str(handed))
    with pytest.raises(AllowListError, match=f"not of this process's install {this_install()}"):
        held()
