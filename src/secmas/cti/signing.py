"""Each domain's identity in the CTI exchange: an Ed25519 key per domain, a detached JWS
over each bundle it publishes, and the keys a subscriber pins (deliverable 004,
Section 4.1: CTI is "exchanged with peer clusters", so a subscriber must know which
cluster speaks, not take a report's word for it).

**Signature.** A bundle is signed as JSON Web Signature (RFC 7515) with `alg` EdDSA over
Ed25519 (RFC 8037), payload detached (RFC 7515 Appendix F): the compact form
`BASE64URL(header)..BASE64URL(signature)`, the payload being the *canonical bundle*: the
bundle's objects sorted by id, serialised with sorted keys, no whitespace and UTF-8. The
canonical form survives a TAXII server, which stores objects one by one and serves them
back in its own order and layout (the bundle's text and id do not survive). The header
holds `kid`, the key's JWK thumbprint (RFC 7638), only to name the key in messages: the
verifier never picks a key from the bundle.

**Carrier.** The JWS travels as one more STIX 2.1 object of the bundle, a `note` whose
`abstract` is `SIGNATURE_ABSTRACT`, `content` the JWS, `authors` the domain and
`object_refs` the ids it covers (so a subscriber knows which objects of a collection make
up the signed bundle). `sign_bundle` adds it to the text `secmas.cti.stix.bundle_text`
produced; a subscriber takes it out again and verifies before `parse_bundle`.

**Keys.** For the run's own TAXII server each domain's key is drawn for the run
(`new_keys`); the run's subscriber pins their public halves. Publishers and subscribers
that are not one process share a JWK Set file (RFC 7517; `load_keys`): one OKP Ed25519
key per domain, `kid` the domain's name, `d` (the private half) only for the domains one
publishes for. A subscriber verifies a collection with the key pinned for the
collection's domain, whatever the bundle says.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG = "EdDSA"
SIGNATURE_ABSTRACT = "secmas CTI bundle signature (detached JWS, EdDSA)"
"""The `abstract` of the `note` that carries a bundle's signature."""
MAX_KEY_FILE = 1024 * 1024


class SignatureError(Exception):
    """A signature that is malformed, by another key, or over other content."""


class KeyFileError(Exception):
    """A key file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class DomainKey:
    """A domain's signing key."""

    domain: str
    private: Ed25519PrivateKey = field(repr=False)

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()


def new_keys(domains: Iterable[str]) -> dict[str, DomainKey]:
    """A fresh Ed25519 key for each domain (the run's own exchange)."""
    return {d: DomainKey(d, Ed25519PrivateKey.generate()) for d in dict.fromkeys(domains)}


def pinned(keys: Mapping[str, DomainKey]) -> dict[str, Ed25519PublicKey]:
    """The public halves a subscriber pins, by domain."""
    return {domain: key.public for domain, key in keys.items()}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict base64url without padding (RFC 7515 §2); ValueError otherwise."""
    if not isinstance(text, str) or "=" in text:
        raise ValueError("not base64url without padding")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url without padding") from None


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def thumbprint(public: Ed25519PublicKey) -> str:
    """The JWK thumbprint (RFC 7638, SHA-256) of an Ed25519 public key."""
    members = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw_public(public))}, separators=(",", ":")
    )
    return _b64(hashlib.sha256(members.encode()).digest())


# -- the canonical bundle and its detached JWS --------------------------------------------
def canonical(objects: Iterable[Mapping[str, Any]]) -> bytes:
    """The signed payload: objects sorted by id, sorted keys, no whitespace, UTF-8."""
    ordered = sorted(objects, key=lambda o: str(o.get("id", "")))
    text = json.dumps(ordered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def sign_detached(payload: bytes, key: DomainKey) -> str:
    """Compact JWS of `payload` with the payload left out (RFC 7515 Appendix F)."""
    header = {"alg": ALG, "kid": thumbprint(key.public)}
    protected = _b64(json.dumps(header, separators=(",", ":")).encode())
    signature = key.private.sign(f"{protected}.{_b64(payload)}".encode("ascii"))
    return f"{protected}..{_b64(signature)}"


def verify_detached(jws: str, payload: bytes, public: Ed25519PublicKey) -> None:
    """Check a detached compact JWS of `payload` by `public`; SignatureError says why not."""
    parts = jws.split(".") if isinstance(jws, str) else []
    if len(parts) != 3 or parts[1]:
        raise SignatureError("not a detached compact JWS (header..signature)")
    try:
        header = json.loads(_unb64(parts[0]))
        signature = _unb64(parts[2])
    except ValueError as exc:
        raise SignatureError(f"malformed JWS: {exc}") from None
    if not isinstance(header, dict) or header.get("alg") != ALG:
        raise SignatureError(f"JWS algorithm must be {ALG}")
    if "crit" in header or header.get("b64") is False:
        raise SignatureError("JWS header has extensions this verifier does not support")
    try:
        public.verify(signature, f"{parts[0]}.{_b64(payload)}".encode("ascii"))
    except InvalidSignature:
        raise SignatureError(
            f"signature does not verify with the pinned key {thumbprint(public)} "
            f"(signed by key {header.get('kid', '?')!s:.64}, or altered after signing)"
        ) from None


# -- bundles ------------------------------------------------------------------------------
def signature_note(objects: Sequence[Mapping[str, Any]], key: DomainKey) -> dict[str, Any]:
    """The STIX `note` that carries the detached JWS over `objects`."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "type": "note",
        "spec_version": "2.1",
        "id": f"note--{uuid.uuid4()}",
        "created": now,
        "modified": now,
        "abstract": SIGNATURE_ABSTRACT,
        "content": sign_detached(canonical(objects), key),
        "authors": [key.domain],
        "object_refs": sorted(str(o["id"]) for o in objects),
    }


def signed_bundle(bundle: Mapping[str, Any], key: DomainKey) -> tuple[str, str]:
    """The text of `bundle` with its signature note added, and the note's id."""
    note = signature_note(bundle["objects"], key)
    objects = [*bundle["objects"], note]
    return json.dumps({**bundle, "objects": objects}, ensure_ascii=False), note["id"]


def sign_bundle(text: str, key: DomainKey) -> str:
    """`text` (a bundle as `bundle_text` writes it) with its signature note added."""
    return signed_bundle(json.loads(text), key)[0]


def is_signature(obj: Mapping[str, Any]) -> bool:
    return obj.get("type") == "note" and obj.get("abstract") == SIGNATURE_ABSTRACT


def signed_objects(
    note: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]], public: Ed25519PublicKey
) -> list[Mapping[str, Any]]:
    """The objects `note` covers, once its JWS verifies over them with `public`."""
    refs = note.get("object_refs")
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise SignatureError("signature note lists no objects")
    missing = [r for r in refs if r not in by_id]
    if missing:
        raise SignatureError(f"signature covers {len(missing)} objects not there ({missing[0]})")
    objects = [by_id[r] for r in dict.fromkeys(refs)]
    verify_detached(note.get("content", ""), canonical(objects), public)
    return objects


# -- key files ----------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyFile:
    """A JWK Set of domains' keys: private ones to sign with, public ones to pin."""

    path: Path
    signers: dict[str, DomainKey]
    public: dict[str, Ed25519PublicKey]

    def signer(self, domain: str) -> DomainKey:
        key = self.signers.get(domain)
        if key is None:
            held = ", ".join(sorted(self.signers)) or "none"
            raise KeyFileError(
                f"{self.path}: no private key (d) for domain {domain!r}, which publishes "
                f"(private keys for: {held})"
            )
        return key

    def for_exchange(
        self, domains: Iterable[str]
    ) -> tuple[dict[str, DomainKey], dict[str, Ed25519PublicKey]]:
        """What an exchange of `domains`' bundles needs: each one's signing key and the
        public keys the subscriber pins; KeyFileError naming the first domain lacking one."""
        wanted = list(domains)
        return {d: self.signer(d) for d in wanted}, self.pinned(wanted)

    def pinned(self, domains: Iterable[str]) -> dict[str, Ed25519PublicKey]:
        """The public keys of `domains`; KeyFileError naming the first without one."""
        for domain in domains:
            if domain not in self.public:
                held = ", ".join(sorted(self.public)) or "none"
                raise KeyFileError(
                    f"{self.path}: no public key for domain {domain!r} (keys for: {held})"
                )
        return dict(self.public)


def load_keys(path: str | Path) -> KeyFile:
    """Read a JWK Set of Ed25519 keys (`kid` = domain); KeyFileError naming file and key."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_KEY_FILE:
            raise KeyFileError(f"{file}: over {MAX_KEY_FILE // 1024} KiB: not a key file")
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{file}: cannot read key file: {exc}") from None
    except json.JSONDecodeError as exc:
        raise KeyFileError(f"{file}: line {exc.lineno}: not JSON: {exc.msg}") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        raise KeyFileError(f'{file}: expected a JWK Set: {{"keys": [...]}} with one key per domain')
    signers: dict[str, DomainKey] = {}
    public: dict[str, Ed25519PublicKey] = {}
    for index, jwk in enumerate(keys):
        domain, verify, sign = _jwk(jwk, f"{file}: keys[{index}]")
        if domain in public:
            raise KeyFileError(f"{file}: keys[{index}]: a second key for domain {domain!r}")
        public[domain] = verify
        if sign is not None:
            signers[domain] = DomainKey(domain, sign)
    return KeyFile(file, signers, public)


def _jwk(jwk: Any, where: str) -> tuple[str, Ed25519PublicKey, Ed25519PrivateKey | None]:
    """One OKP Ed25519 JWK (RFC 8037 §2): domain, public key, private key if given."""
    if not isinstance(jwk, dict):
        raise KeyFileError(f"{where}: expected a JSON object (a JWK)")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise KeyFileError(f'{where}: expected "kty": "OKP", "crv": "Ed25519"')
    domain = jwk.get("kid")
    if not isinstance(domain, str) or not domain:
        raise KeyFileError(f"{where}: kid must name the domain")
    try:
        x = _unb64(jwk.get("x", ""))
        d = None if "d" not in jwk else _unb64(jwk["d"])
    except ValueError as exc:
        raise KeyFileError(f"{where} ({domain}): {exc}") from None
    if len(x) != 32 or (d is not None and len(d) != 32):
        raise KeyFileError(f"{where} ({domain}): x and d must each be 32 bytes (Ed25519)")
    verify = Ed25519PublicKey.from_public_bytes(x)
    sign = None if d is None else Ed25519PrivateKey.from_private_bytes(d)
    if sign is not None and raw_public(sign.public_key()) != x:
        raise KeyFileError(f"{where} ({domain}): d is not the private half of x")
    return domain, verify, sign


def jwk_set(keys: Mapping[str, DomainKey], *, private: bool = False) -> dict[str, Any]:
    """The keys as a JWK Set (`load_keys`'s format); private halves only when asked."""
    entries = []
    for domain, key in keys.items():
        jwk = {"kty": "OKP", "crv": "Ed25519", "kid": domain, "x": _b64(raw_public(key.public))}
        if private:
            jwk["d"] = _b64(key.private.private_bytes_raw())
        entries.append(jwk)
    return {"keys": entries}
