"""Per-domain Ed25519 identities: detached JWS (RFC 7515 Appendix F, EdDSA per RFC 8037)
over the canonical bundle, and the JWK Set key file."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from secmas.cti.signing import (
    KeyFileError,
    SignatureError,
    canonical,
    is_signature,
    jwk_set,
    load_keys,
    new_keys,
    sign_bundle,
    sign_detached,
    signed_objects,
    thumbprint,
    verify_detached,
)

# RFC 8037 Appendix A: the example Ed25519 key, its thumbprint and a JWS by it
RFC_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC_JWS = (
    "eyJhbGciOiJFZERTQSJ9..hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5"
    "BhVsPt9g7sVvpAr_MuM0KAg"
)
OBJECTS = [
    {"type": "identity", "id": "identity--1", "name": "a"},
    {"type": "report", "id": "report--2", "name": "r", "object_refs": ["identity--1"]},
]


def _public(x: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "="))


def test_the_rfc_8037_example_verifies_and_has_its_thumbprint() -> None:
    public = _public(RFC_X)
    assert thumbprint(public) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    verify_detached(RFC_JWS, b"Example of Ed25519 signing", public)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_detached(RFC_JWS, b"Example of Ed25519 signing!", public)


@given(st.permutations(OBJECTS), st.booleans())
def test_the_canonical_bundle_ignores_order_and_layout(objects, indent) -> None:
    relaid = json.loads(json.dumps(objects, indent=2 if indent else None, sort_keys=indent))
    assert canonical(relaid) == canonical(OBJECTS)


def test_a_signed_bundle_verifies_with_its_domain_key_only() -> None:
    keys = new_keys(["edge-a", "edge-b"])
    signed = json.loads(
        sign_bundle(json.dumps({"type": "bundle", "objects": OBJECTS}), keys["edge-a"])
    )
    [note] = [o for o in signed["objects"] if is_signature(o)]
    assert note["authors"] == ["edge-a"] and note["object_refs"] == ["identity--1", "report--2"]
    by_id = {o["id"]: o for o in signed["objects"] if not is_signature(o)}
    assert signed_objects(note, by_id, keys["edge-a"].public) == OBJECTS
    with pytest.raises(SignatureError, match="does not verify with the pinned key"):
        signed_objects(note, by_id, keys["edge-b"].public)
    changed = {**by_id, "identity--1": {**OBJECTS[0], "name": "b"}}
    with pytest.raises(SignatureError, match="altered after signing"):
        signed_objects(note, changed, keys["edge-a"].public)
    with pytest.raises(SignatureError, match="covers 1 objects not there"):
        signed_objects(note, {"report--2": OBJECTS[1]}, keys["edge-a"].public)


@pytest.mark.parametrize(
    ("jws", "reason"),
    [
        ("a.b.c", "not a detached compact JWS"),
        ("abc", "not a detached compact JWS"),
        ("!!..AAAA", "malformed JWS"),
        ("eyJhbGciOiJub25lIn0..AAAA", "algorithm must be EdDSA"),
    ],
)
def test_malformed_signatures_are_refused_with_the_reason(jws: str, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify_detached(jws, b"x", new_keys(["d"])["d"].public)


def test_a_signature_by_one_key_does_not_verify_with_another() -> None:
    keys = new_keys(["a", "b"])
    jws = sign_detached(b"payload", keys["a"])
    verify_detached(jws, b"payload", keys["a"].public)
    with pytest.raises(SignatureError, match=f"signed by key {thumbprint(keys['a'].public)}"):
        verify_detached(jws, b"payload", keys["b"].public)


def test_a_key_file_round_trips(tmp_path: Path) -> None:
    keys = new_keys(["edge-a", "edge-b"])
    path = tmp_path / "keys.json"
    whole = jwk_set(keys, private=True)
    whole["keys"][1].pop("d")
    path.write_text(json.dumps(whole))
    loaded = load_keys(path)
    assert loaded.signer("edge-a").public == keys["edge-a"].public
    assert set(loaded.pinned(["edge-a", "edge-b"])) == {"edge-a", "edge-b"}
    with pytest.raises(KeyFileError, match=r"keys.json: no private key \(d\) for domain 'edge-b'"):
        loaded.signer("edge-b")
    with pytest.raises(KeyFileError, match=r"keys\.json: no public key for domain 'core-c'"):
        loaded.pinned(["edge-a", "core-c"])
    assert all("d" not in jwk for jwk in jwk_set(keys)["keys"])


def _jwk(**change: object) -> dict[str, object]:
    return {"kty": "OKP", "crv": "Ed25519", "kid": "edge-a", "x": RFC_X} | change


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{", "line 1: not JSON"),
        ("[]", "expected a JWK Set"),
        (json.dumps({"keys": ["x"]}), r"keys\[0\]: expected a JSON object"),
        (json.dumps({"keys": [_jwk(crv="P-256")]}), r'keys\[0\]: expected "kty": "OKP"'),
        (json.dumps({"keys": [_jwk(kid="")]}), r"keys\[0\]: kid must name the domain"),
        (json.dumps({"keys": [_jwk(x="AAAA")]}), r"keys\[0\] \(edge-a\): x and d must each"),
        (json.dumps({"keys": [_jwk(x="a+b=")]}), r"keys\[0\] \(edge-a\): not base64url"),
        (json.dumps({"keys": [_jwk(d=RFC_X)]}), r"d is not the private half of x"),
        (json.dumps({"keys": [_jwk(), _jwk()]}), r"keys\[1\]: a second key for domain 'edge-a'"),
    ],
)
def test_a_malformed_key_file_is_named_with_the_key(tmp_path: Path, content, reason) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(KeyFileError, match=f"keys.json.*{reason}"):
        load_keys(path)


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"gone\.json: cannot read key file"):
        load_keys(tmp_path / "gone.json")
