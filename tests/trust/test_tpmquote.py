"""A TPM quote read and checked without a TPM: PCR replay against SHA-256 values worked
out by hand, the TPM 2.0 structures marshalled here field by field (TPM 2.0 Library Part
2), signed by a software ECDSA key, and every malformed input refused naming what."""

from __future__ import annotations

import contextlib
import hashlib
import struct
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from secmas.trust.measurer import (
    Expectation,
    LogEntry,
    MeasurerError,
    PlatformReference,
    SignedEvidence,
    aggregate_of,
    appraise,
)
from secmas.trust.tpmquote import (
    AK_ATTRIBUTES,
    DECRYPT,
    RESTRICTED,
    TPM_ALG_ECC,
    TPM_ALG_ECDSA,
    TPM_ALG_NULL,
    TPM_ALG_SHA256,
    TPM_ECC_NIST_P256,
    TPM_GENERATED_VALUE,
    TPM_ST_ATTEST_QUOTE,
    AttestationKey,
    QuoteError,
    QuoteInfo,
    TpmAnchor,
    TpmQuote,
    ecdsa_signature,
    pcr_extend,
    qualifying_data,
    quote_problems,
    quoted_digest,
)

ZERO = bytes(32)
SHA256_OF_64_ZEROS = "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b"
PCR = 23
AK = ec.generate_private_key(ec.SECP256R1())


def tpm2b(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def bank(pcrs: tuple[int, ...], algorithm: int = TPM_ALG_SHA256, size: int = 3) -> bytes:
    bitmap = bytearray(size)
    for pcr in pcrs:
        bitmap[pcr // 8] |= 1 << (pcr % 8)
    return struct.pack(">HB", algorithm, size) + bytes(bitmap)


def attest(
    extra: bytes,
    digest: bytes,
    banks: tuple[bytes, ...] = (bank((PCR,)),),
    magic: int = TPM_GENERATED_VALUE,
    kind: int = TPM_ST_ATTEST_QUOTE,
) -> bytes:
    """TPMS_ATTEST of a quote (Part 2 §10.12.12): magic, type, qualifiedSigner, extraData,
    clockInfo (17 bytes), firmwareVersion, then TPMS_QUOTE_INFO."""
    signer = tpm2b(TPM_ALG_SHA256.to_bytes(2, "big") + bytes(32))
    head = struct.pack(">IH", magic, kind) + signer + tpm2b(extra) + bytes(17) + bytes(8)
    return head + struct.pack(">I", len(banks)) + b"".join(banks) + tpm2b(digest)


def tpmt_signature(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    head = struct.pack(">HH", TPM_ALG_ECDSA, TPM_ALG_SHA256)
    return head + tpm2b(r.to_bytes(32, "big")) + tpm2b(s.to_bytes(32, "big"))


def tpm2b_public(
    key: ec.EllipticCurvePublicKey,
    attributes: int = AK_ATTRIBUTES,
    kind: int = TPM_ALG_ECC,
    curve: int = TPM_ECC_NIST_P256,
    y: bytes | None = None,
) -> bytes:
    """TPM2B_PUBLIC of an ECC key (Part 2 §12.2.4-5)."""
    numbers = key.public_numbers()
    area = struct.pack(">HHI", kind, TPM_ALG_SHA256, attributes) + tpm2b(b"")
    area += struct.pack(">HHHHH", TPM_ALG_NULL, TPM_ALG_ECDSA, TPM_ALG_SHA256, curve, TPM_ALG_NULL)
    area += tpm2b(numbers.x.to_bytes(32, "big"))
    area += tpm2b(y if y is not None else numbers.y.to_bytes(32, "big"))
    return tpm2b(area)


ANCHOR = TpmAnchor(AttestationKey.from_tpm(tpm2b_public(AK.public_key())), PCR)
BEFORE = bytes(range(32))
AGGREGATE = hashlib.sha256(b"a measurement").digest()
EXTRA = qualifying_data("host-1", 42, b"n" * 32)


def quote(
    extra: bytes = EXTRA,
    digest: bytes | None = None,
    banks: tuple[bytes, ...] = (bank((PCR,)),),
    key: ec.EllipticCurvePrivateKey = AK,
) -> TpmQuote:
    body = attest(extra, digest or quoted_digest(BEFORE, AGGREGATE), banks)
    return TpmQuote(BEFORE, body, tpmt_signature(key, body))


def test_a_pcr_extends_as_the_tpm_does() -> None:
    assert pcr_extend(ZERO, ZERO).hex() == SHA256_OF_64_ZEROS
    twice = "e2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9"
    assert hashlib.sha256(pcr_extend(ZERO, ZERO)).hexdigest() == twice
    assert quoted_digest(ZERO, ZERO).hex() == twice
    chained = "c155ec9c295eb074c8218f58d8e276755a4af041258f9ffb8ab7fbb3bbdd3f3a"
    assert pcr_extend(bytes.fromhex(SHA256_OF_64_ZEROS), bytes(range(32))).hex() == chained


def test_the_log_aggregate_replays_into_the_pcr() -> None:
    # one extension per measurement: the PCR's new value is extend(before, aggregate),
    # where the aggregate is itself the extend-fold of the entries from zero
    entries = [LogEntry.of("exe", "/usr/bin/python3", sha256="aa" * 32)]
    aggregate = aggregate_of(entries)
    assert (
        quoted_digest(BEFORE, aggregate)
        == hashlib.sha256(hashlib.sha256(BEFORE + aggregate).digest()).digest()
    )


def test_qualifying_data_binds_nonce_process_and_measurer() -> None:
    base = qualifying_data("host-1", 42, b"n" * 32)
    assert len(base) == 32
    others = {
        qualifying_data("host-2", 42, b"n" * 32),
        qualifying_data("host-1", 43, b"n" * 32),
        qualifying_data("host-1", 42, b"m" * 32),
    }
    assert base not in others and len(others) == 3


def test_a_genuine_quote_passes() -> None:
    assert quote_problems(quote(), ANCHOR, EXTRA, AGGREGATE) == []


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (quote(key=ec.generate_private_key(ec.SECP256R1())), "not signed by the attestation key"),
        (quote(extra=qualifying_data("host-1", 42, b"x" * 32)), "answers another challenge"),
        (quote(banks=(bank((16,)),)), "covers bank 0x000b PCRs [16], not sha256 PCR 23"),
        (quote(banks=(bank((PCR,), algorithm=0x0004),)), "covers bank 0x0004 PCRs [23]"),
        (quote(banks=(bank((16, PCR)),)), "covers bank 0x000b PCRs [16, 23]"),
        (quote(banks=()), "covers no PCR"),
        (quote(digest=quoted_digest(ZERO, AGGREGATE)), "does not replay to the quoted PCR 23"),
    ],
    ids=["key", "nonce", "other-pcr", "sha1-bank", "two-pcrs", "no-pcr", "replay"],
)
def test_each_check_of_a_quote_bites(bad: TpmQuote, reason: str) -> None:
    problems = quote_problems(bad, ANCHOR, EXTRA, AGGREGATE)
    assert len(problems) == 1 and reason in problems[0], problems


def test_the_before_value_cannot_be_chosen_to_fit_another_log() -> None:
    genuine = quote()
    assert quote_problems(replace(genuine, before=ZERO), ANCHOR, EXTRA, AGGREGATE) != []
    assert quote_problems(genuine, ANCHOR, EXTRA, hashlib.sha256(b"forged").digest()) != []


def test_a_quote_signed_over_other_bytes_is_refused() -> None:
    genuine = quote()
    tampered = replace(genuine, attest=genuine.attest[:-1] + bytes([genuine.attest[-1] ^ 1]))
    assert "not signed" in quote_problems(tampered, ANCHOR, EXTRA, AGGREGATE)[0]


@pytest.mark.parametrize(
    ("cut", "field"),
    [(3, "magic"), (5, "type"), (7, "qualifiedSigner size"), (45, "extraData"),
     (80, "clockInfo"), (95, "firmwareVersion"), (103, "pcrSelect.count"),
     (106, r"pcrSelect\[0\].hash"), (107, r"pcrSelect\[0\].sizeofSelect"),
     (109, r"pcrSelect\[0\].pcrSelect"), (112, "pcrDigest size"), (120, "pcrDigest")],
)  # fmt: skip
def test_a_truncated_attest_names_the_missing_field(cut: int, field: str) -> None:
    body = quote().attest
    with pytest.raises(QuoteError, match=rf"TPMS_ATTEST: {field} needs \d+ bytes at offset"):
        QuoteInfo.parse(body[:cut])


COUNT_AT_MOST = attest(EXTRA, ZERO)[:101] + b"\xff" * 4 + attest(EXTRA, ZERO)[105:]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (attest(EXTRA, ZERO, magic=0x12345678), "magic is 0x12345678, expected 0xff544347"),
        (attest(EXTRA, ZERO, kind=0x8017), "type is 0x8017, expected 0x8018"),  # a certify
        (attest(EXTRA, ZERO) + b"\x00", "1 bytes after the end"),
        (attest(EXTRA, ZERO, banks=(bank((PCR,), size=9),)), "sizeofSelect is 9, at most 8"),
        (attest(bytes(65), ZERO), "extraData is 65 bytes, at most 64"),
        (COUNT_AT_MOST, "pcrSelect.count is 4294967295, at most 16"),
    ],
    ids=["magic", "type", "trailing", "bitmap", "extra", "banks"],
)
def test_a_malformed_attest_names_what(body: bytes, message: str) -> None:
    with pytest.raises(QuoteError, match=message):
        QuoteInfo.parse(body)


def test_an_unreadable_quote_is_a_reason_not_an_exception() -> None:
    broken = replace(quote(), attest=b"\xff\x54")
    problems = quote_problems(broken, ANCHOR, EXTRA, AGGREGATE)
    assert problems == [
        "TPM quote unreadable: TPMS_ATTEST: magic needs 4 bytes at offset 0, 2 left"
    ]


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (struct.pack(">HH", 0x0014, TPM_ALG_SHA256), "TPMT_SIGNATURE: sigAlg is 0x14"),  # RSASSA
        (struct.pack(">HH", TPM_ALG_ECDSA, 0x0004), "TPMT_SIGNATURE: hash is 0x4"),
        (struct.pack(">HH", TPM_ALG_ECDSA, TPM_ALG_SHA256) + tpm2b(bytes(70)), "signatureR is 70"),
        (struct.pack(">HH", TPM_ALG_ECDSA, TPM_ALG_SHA256) + tpm2b(b"\x01"), "signatureS size"),
    ],
    ids=["rsa", "sha1", "long-r", "no-s"],
)
def test_a_malformed_signature_names_what(signature: bytes, message: str) -> None:
    with pytest.raises(QuoteError, match=message):
        ecdsa_signature(signature)


@pytest.mark.parametrize(
    ("public", "message"),
    [
        (tpm2b_public(AK.public_key(), kind=0x0001), "type is 0x1, expected 0x23"),  # RSA
        (tpm2b_public(AK.public_key(), AK_ATTRIBUTES & ~RESTRICTED), "not a restricted signing"),
        (tpm2b_public(AK.public_key(), AK_ATTRIBUTES | DECRYPT), "not a restricted signing"),
        (tpm2b_public(AK.public_key(), curve=0x0004), "curveID is 0x4, expected 0x3"),
        (tpm2b_public(AK.public_key(), y=bytes(31) + b"\x01"), "unique is not a point on P-256"),
        (tpm2b_public(AK.public_key())[:-3], "publicArea needs"),
        (tpm2b_public(AK.public_key()) + b"\x00", "TPM2B_PUBLIC: 1 bytes after the end"),
    ],
    ids=["rsa", "unrestricted", "decrypt", "curve", "off-curve", "truncated", "trailing"],
)
def test_an_attestation_key_that_is_not_one_is_refused_naming_why(
    public: bytes, message: str
) -> None:
    with pytest.raises(QuoteError, match=message):
        AttestationKey.from_tpm(public)


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_quote_error(data: bytes) -> None:
    for parse in (QuoteInfo.parse, ecdsa_signature, AttestationKey.from_tpm):
        with contextlib.suppress(QuoteError):
            parse(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "quote must be an object"),
        ({"attest": "00", "signature": "00"}, "field 'before' missing or not hex"),
        ({"before": "00", "attest": "00", "signature": "00"}, "'before' must be 32 bytes, got 1"),
        ({"before": "00" * 32, "attest": "zz", "signature": "00"}, "'attest' missing or not hex"),
        ({"before": "00" * 32, "attest": "", "signature": "00"}, "'attest' must be 1 to 1024"),
        ({"before": "00" * 32, "attest": "00", "signature": "00" * 257}, "'signature' must be"),
    ],
)
def test_a_quote_in_json_is_checked_field_by_field(data: object, message: str) -> None:
    with pytest.raises(QuoteError, match=message):
        TpmQuote.from_json(data)


SECAAS = Ed25519PrivateKey.generate()
MEASURER = Ed25519PrivateKey.generate()
NONCE = b"n" * 32
REFERENCE = PlatformReference(interpreter="aa" * 32, files={}).sign(SECAAS)
ENTRIES = [
    LogEntry.of("exe", "/usr/bin/python3", sha256="aa" * 32),
    LogEntry.of("cmdline", "argv", argv='["python3"]'),
    LogEntry.of("module", "agent", sha256="dd" * 32),
]


def quoted_evidence() -> SignedEvidence:
    evidence = SignedEvidence.sign(MEASURER, "host-1", 42, NONCE, ENTRIES)
    body = attest(EXTRA, quoted_digest(BEFORE, evidence.aggregate))
    return replace(evidence, quote=TpmQuote(BEFORE, body, tpmt_signature(AK, body)))


def reasons(evidence: SignedEvidence, tpm: TpmAnchor | None) -> tuple[str, ...]:
    expected = Expectation(NONCE, 42, {"agent": "dd" * 32})
    keys = MEASURER.public_key(), SECAAS.public_key()
    return appraise(evidence, REFERENCE, keys[0], expected, keys[1], tpm=tpm).reasons


def test_evidence_with_a_quote_round_trips_and_appraises() -> None:
    evidence = quoted_evidence()
    again = SignedEvidence.decode(evidence.encode())
    assert again == evidence
    assert reasons(again, ANCHOR) == ()
    assert reasons(replace(again, quote=None), None) == ()  # no TPM registered: as before
    assert reasons(replace(again, quote=None), ANCHOR) == (
        "no TPM quote, and this measurer's evidence must carry one",
    )


def test_evidence_with_a_malformed_quote_does_not_decode() -> None:
    frame = quoted_evidence().encode().replace(b'"before": "0001', b'"before": "01')
    with pytest.raises(MeasurerError, match="field 'quote': quote field 'before' must be 32"):
        SignedEvidence.decode(frame)
