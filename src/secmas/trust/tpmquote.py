"""A TPM 2.0 quote of the measurer's PCR, read and checked without a TPM (the verifier's
half of `secmas.trust.tpm`).

The measurer extends each measurement's aggregate (`secmas.trust.measurer.aggregate_of`,
itself the PCR-extend fold of the log's entries) into one PCR and has the TPM quote that
PCR with an attestation key (AK). The verifier needs no TPM software: it parses the
structures the TPM signed (TPM 2.0 Library Part 2: §10.12.12 TPMS_ATTEST, §10.12.1
TPMS_QUOTE_INFO, §11.3.4 TPMT_SIGNATURE, §12.2.4 TPMT_PUBLIC), checks the ECDSA signature
with `cryptography` against the AK's public area registered at enrolment, the qualifying
data (`extraData`) against the challenge, and that the quoted PCR digest is what the log
replays to: `SHA-256(SHA-256(before ‖ aggregate))` (Part 1 §17.3 PCR extend; the quote
signs the hash of the selected PCRs' values, Part 3 §18.4).

`before`, the PCR's value before this measurement's extension, travels with the quote
instead of the PCR being reset at each measurement, so that any PCR of a real TPM serves
(a non-resettable one too) and other users of the PCR only make a quote fail, never pass.
It needs no trust: to pass a log other than the one extended, a forger would need a second
SHA-256 preimage (`before'`, `aggregate'`) of the quoted value.

The AK must be a restricted signing key: the TPM then signs with it only structures it
built itself, beginning with `TPM_GENERATED_VALUE`, so nothing outside the TPM can have
it sign a PCR digest of its choosing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

TPM_GENERATED_VALUE = 0xFF544347
TPM_ST_ATTEST_QUOTE = 0x8018
TPM_ALG_SHA256 = 0x000B
TPM_ALG_NULL = 0x0010
TPM_ALG_ECDSA = 0x0018
TPM_ALG_ECC = 0x0023
TPM_ECC_NIST_P256 = 0x0003

FIXED_TPM = 1 << 1
FIXED_PARENT = 1 << 4
SENSITIVE_DATA_ORIGIN = 1 << 5
RESTRICTED = 1 << 16
DECRYPT = 1 << 17
SIGN = 1 << 18
AK_ATTRIBUTES = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | RESTRICTED | SIGN
"""What makes an AK (TPMA_OBJECT, Part 2 §8.3): made in this TPM, never leaves it, and
signs only what the TPM generated."""

PCR_BYTES = 32
MAX_ATTEST = 1024
MAX_SIGNATURE = 256
MAX_PCR_BANKS = 16
MAX_SELECT = 8  # bytes of a PCR bitmap: 64 PCRs (a PC Client TPM has 24)
_QUOTE_DOMAIN = b"secmas/tpm-quote/1\x00"


class QuoteError(ValueError):
    """A quote, signature or public area that cannot be parsed; the message names what."""


class _Reader:
    """Big-endian TPM marshalling, each read naming the field it is for."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.what, self.offset = data, what, 0

    def take(self, size: int, field: str) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise QuoteError(
                f"{self.what}: {field} needs {size} bytes at offset {self.offset}, "
                f"{len(self.data) - self.offset} left"
            )
        chunk, self.offset = self.data[self.offset : end], end
        return chunk

    def uint(self, size: int, field: str) -> int:
        return int.from_bytes(self.take(size, field), "big")

    def sized(self, field: str, limit: int) -> bytes:
        """A TPM2B: a 16-bit size, then that many bytes (at most `limit`)."""
        size = self.uint(2, f"{field} size")
        if size > limit:
            raise QuoteError(f"{self.what}: {field} is {size} bytes, at most {limit}")
        return self.take(size, field)

    def expect(self, size: int, field: str, wanted: int) -> None:
        value = self.uint(size, field)
        if value != wanted:
            raise QuoteError(f"{self.what}: {field} is {value:#x}, expected {wanted:#x}")

    def end(self) -> None:
        if self.offset != len(self.data):
            left = len(self.data) - self.offset
            raise QuoteError(f"{self.what}: {left} bytes after the end")


def pcr_extend(value: bytes, digest: bytes) -> bytes:
    """TPM2_PCR_Extend in the SHA-256 bank: SHA-256(value ‖ digest)."""
    return hashlib.sha256(value + digest).digest()


def quoted_digest(before: bytes, aggregate: bytes) -> bytes:
    """The `pcrDigest` of a quote of one SHA-256 PCR that was `before` and was then
    extended with `aggregate`: the hash of the selected PCR values, here one."""
    return hashlib.sha256(pcr_extend(before, aggregate)).digest()


def qualifying_data(measurer: str, pid: int, nonce: bytes) -> bytes:
    """The quote's `extraData`: the challenge it answers (the verifier's nonce, about this
    process, asked of this measurer), in 32 bytes as a TPM takes them."""
    name = measurer.encode()
    message = nonce + pid.to_bytes(8, "big") + len(name).to_bytes(2, "big") + name
    return hashlib.sha256(_QUOTE_DOMAIN + message).digest()


@dataclass(frozen=True)
class QuoteInfo:
    """What a quote's TPMS_ATTEST says: the challenge, the PCRs it covers, their digest."""

    extra_data: bytes
    selection: tuple[tuple[int, tuple[int, ...]], ...]
    """(hash algorithm, PCR indices) per bank, in the quote's order."""
    pcr_digest: bytes

    @classmethod
    def parse(cls, data: bytes) -> QuoteInfo:
        read = _Reader(data, "TPMS_ATTEST")
        read.expect(4, "magic", TPM_GENERATED_VALUE)
        read.expect(2, "type", TPM_ST_ATTEST_QUOTE)
        read.sized("qualifiedSigner", 2 + 64)
        extra = read.sized("extraData", 64)
        read.take(17, "clockInfo")
        read.uint(8, "firmwareVersion")
        banks = read.uint(4, "pcrSelect.count")
        if banks > MAX_PCR_BANKS:
            raise QuoteError(f"TPMS_ATTEST: pcrSelect.count is {banks}, at most {MAX_PCR_BANKS}")
        selection = tuple(_bank(read, i) for i in range(banks))
        digest = read.sized("pcrDigest", 64)
        read.end()
        return cls(extra, selection, digest)


def _bank(read: _Reader, index: int) -> tuple[int, tuple[int, ...]]:
    """One TPMS_PCR_SELECTION: the bank's hash and the PCRs its bitmap sets."""
    field = f"pcrSelect[{index}]"
    algorithm = read.uint(2, f"{field}.hash")
    size = read.uint(1, f"{field}.sizeofSelect")
    if size > MAX_SELECT:
        raise QuoteError(f"TPMS_ATTEST: {field}.sizeofSelect is {size}, at most {MAX_SELECT}")
    bitmap = read.take(size, f"{field}.pcrSelect")
    return algorithm, tuple(i for i in range(size * 8) if bitmap[i // 8] >> (i % 8) & 1)


def ecdsa_signature(data: bytes) -> bytes:
    """A TPMT_SIGNATURE of ECDSA over SHA-256, as the DER `cryptography` verifies."""
    read = _Reader(data, "TPMT_SIGNATURE")
    read.expect(2, "sigAlg", TPM_ALG_ECDSA)
    read.expect(2, "hash", TPM_ALG_SHA256)
    r = int.from_bytes(read.sized("signatureR", 66), "big")
    s = int.from_bytes(read.sized("signatureS", 66), "big")
    read.end()
    return encode_dss_signature(r, s)


@dataclass(frozen=True)
class AttestationKey:
    """An AK's public area as the TPM returned it (TPM2B_PUBLIC): a restricted ECDSA
    P-256 signing key."""

    public: bytes
    key: ec.EllipticCurvePublicKey
    attributes: int

    @classmethod
    def from_tpm(cls, data: bytes) -> AttestationKey:
        outer = _Reader(data, "TPM2B_PUBLIC")
        area = outer.sized("publicArea", 1024)
        outer.end()
        read = _Reader(area, "TPMT_PUBLIC")
        read.expect(2, "type", TPM_ALG_ECC)
        read.expect(2, "nameAlg", TPM_ALG_SHA256)
        attributes = read.uint(4, "objectAttributes")
        if attributes & AK_ATTRIBUTES != AK_ATTRIBUTES or attributes & DECRYPT:
            raise QuoteError(
                f"TPMT_PUBLIC: objectAttributes {attributes:#x} are not a restricted signing "
                "key's (fixedTPM, fixedParent, sensitiveDataOrigin, restricted, sign; no decrypt)"
            )
        read.sized("authPolicy", 64)
        read.expect(2, "parameters.symmetric", TPM_ALG_NULL)
        read.expect(2, "parameters.scheme", TPM_ALG_ECDSA)
        read.expect(2, "parameters.scheme.hashAlg", TPM_ALG_SHA256)
        read.expect(2, "parameters.curveID", TPM_ECC_NIST_P256)
        read.expect(2, "parameters.kdf", TPM_ALG_NULL)
        x, y = read.sized("unique.x", 32), read.sized("unique.y", 32)
        read.end()
        try:
            point = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
            ).public_key()
        except ValueError:
            raise QuoteError("TPMT_PUBLIC: unique is not a point on P-256") from None
        return cls(bytes(data), point, attributes)

    def signed(self, message: bytes, signature: bytes) -> bool:
        try:
            self.key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class TpmAnchor:
    """What a verifier registered for one measurer at enrolment: the AK's public area (from
    the TPM itself, by the IML driver that made the key) and the PCR the measurer extends."""

    key: AttestationKey
    pcr: int


@dataclass(frozen=True)
class TpmQuote:
    """A quote as evidence carries it: the PCR's value before this measurement's
    extension, the TPMS_ATTEST the TPM signed, and its TPMT_SIGNATURE."""

    before: bytes
    attest: bytes
    signature: bytes

    def to_json(self) -> dict[str, str]:
        return {
            "before": self.before.hex(),
            "attest": self.attest.hex(),
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: object) -> TpmQuote:
        if not isinstance(data, dict):
            raise QuoteError("quote must be an object")
        before = _hex(data, "before", PCR_BYTES, PCR_BYTES)
        return cls(
            before,
            _hex(data, "attest", 1, MAX_ATTEST),
            _hex(data, "signature", 1, MAX_SIGNATURE),
        )


def _hex(data: dict[str, Any], key: str, least: int, most: int) -> bytes:
    try:
        value = bytes.fromhex(data[key])
    except (KeyError, TypeError, ValueError):
        raise QuoteError(f"quote field {key!r} missing or not hex") from None
    if not least <= len(value) <= most:
        size = f"{least}" if least == most else f"{least} to {most}"
        raise QuoteError(f"quote field {key!r} must be {size} bytes, got {len(value)}")
    return value


def quote_problems(
    quote: TpmQuote, anchor: TpmAnchor, qualifying: bytes, aggregate: bytes
) -> list[str]:
    """Why `quote` does not vouch for a log with this `aggregate` answering the challenge
    whose qualifying data is `qualifying` (no reasons: it does)."""
    try:
        info = QuoteInfo.parse(quote.attest)
        signature = ecdsa_signature(quote.signature)
    except QuoteError as exc:
        return [f"TPM quote unreadable: {exc}"]
    if not anchor.key.signed(quote.attest, signature):
        return ["TPM quote not signed by the attestation key registered at enrolment"]
    if info.extra_data != qualifying:
        return ["TPM quote answers another challenge (nonce, process or measurer)"]
    wanted = ((TPM_ALG_SHA256, (anchor.pcr,)),)
    if info.selection != wanted:
        return [f"TPM quote covers {_selection(info.selection)}, not sha256 PCR {anchor.pcr}"]
    if info.pcr_digest != quoted_digest(quote.before, aggregate):
        return [f"event log does not replay to the quoted PCR {anchor.pcr}"]
    return []


def _selection(selection: tuple[tuple[int, tuple[int, ...]], ...]) -> str:
    banks = [f"bank {algorithm:#06x} PCRs {list(pcrs)}" for algorithm, pcrs in selection]
    return ", ".join(banks) or "no PCR"
