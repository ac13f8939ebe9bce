"""The measurer's TPM against a real swtpm: the software TPM's life, the AK the driver
makes, and extend-and-quote checked by the TPM-free verifier; the PCR read back from the
TPM is what the verifier replays. Skipped, naming what is missing, without swtpm or
tpm2-pytss."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.trust.measurer import LogEntry, SignedEvidence
from secmas.trust.tpm import (
    DEFAULT_PCR,
    PCR_VARIABLE,
    TPM_VARIABLE,
    AttestationKeyBlob,
    PcrQuoter,
    SoftwareTpm,
    TpmConfig,
    TpmError,
    enrol_attestation_key,
    handover,
    software_tpm_missing,
)
from secmas.trust.tpmquote import (
    AK_ATTRIBUTES,
    AttestationKey,
    TpmAnchor,
    pcr_extend,
    qualifying_data,
    quote_problems,
)

PCR = 16
KEY = Ed25519PrivateKey.generate()
ENTRIES = [LogEntry.of("exe", "/usr/bin/python3", sha256="aa" * 32)]


def read_pcr(tcti: str, pcr: int) -> bytes:
    """The PCR's value, read through a connection of its own."""
    from tpm2_pytss import ESAPI

    esys = ESAPI(tcti)
    try:
        return bytes(esys.pcr_read(f"sha256:{pcr}")[2][0])
    finally:
        esys.close()


def evidence(nonce: bytes, pid: int = 42) -> SignedEvidence:
    return SignedEvidence.sign(KEY, "host-1", pid, nonce, ENTRIES)


def test_a_software_tpm_is_stopped_when_its_block_fails(tmp_path: Path) -> None:
    missing = software_tpm_missing()
    if missing is not None:
        pytest.skip(missing)
    with pytest.raises(RuntimeError, match="the test failed"), SoftwareTpm.start(tmp_path) as tpm:
        assert tpm.process.poll() is None and tpm.socket.exists()
        raise RuntimeError("the test failed")
    assert tpm.process.poll() is not None


def test_an_enrolled_key_is_a_restricted_signing_key_of_the_tpm(swtpm: SoftwareTpm) -> None:
    blob = enrol_attestation_key(swtpm.tcti)
    key = AttestationKey.from_tpm(blob.public)
    assert key.attributes & AK_ATTRIBUTES == AK_ATTRIBUTES
    assert len(blob.auth) == 32 and AttestationKeyBlob.decode(blob.encode()) == blob
    assert enrol_attestation_key(swtpm.tcti).public != blob.public  # a fresh key each time


def test_each_measurement_extends_the_pcr_and_the_quote_replays(swtpm: SoftwareTpm) -> None:
    blob = enrol_attestation_key(swtpm.tcti)
    anchor = TpmAnchor(AttestationKey.from_tpm(blob.public), PCR)
    quoter = PcrQuoter.open(swtpm.tcti, blob, PCR)
    try:
        first = quoter.attest(evidence(b"1" * 32))
        second = quoter.attest(evidence(b"2" * 32, pid=43))
    finally:
        quoter.close()
    assert first.quote is not None and second.quote is not None
    assert first.quote.before == bytes(32)  # a fresh TPM's PCR 16
    after_first = pcr_extend(bytes(32), first.aggregate)
    assert second.quote.before == after_first
    assert read_pcr(swtpm.tcti, PCR) == pcr_extend(after_first, second.aggregate)
    for one, nonce, pid in ((first, b"1" * 32, 42), (second, b"2" * 32, 43)):
        assert one.quote is not None
        extra = qualifying_data("host-1", pid, nonce)
        assert quote_problems(one.quote, anchor, extra, one.aggregate) == []


def test_the_wrapped_key_without_its_authorisation_cannot_quote(swtpm: SoftwareTpm) -> None:
    # What an agent that copied the blob (not the measurer's memory) holds.
    blob = enrol_attestation_key(swtpm.tcti)
    quoter = PcrQuoter.open(swtpm.tcti, replace(blob, auth=bytes(32)), PCR)
    try:
        with pytest.raises(TpmError, match=f"TPM quote of PCR {PCR}: .*authorization"):
            quoter.attest(evidence(b"n" * 32))
    finally:
        quoter.close()


def test_a_key_made_in_another_tpm_does_not_load(swtpm: SoftwareTpm, tmp_path: Path) -> None:
    with SoftwareTpm.start(tmp_path / "other") as other:
        blob = enrol_attestation_key(other.tcti)
    with pytest.raises(TpmError, match="attestation key load"):
        PcrQuoter.open(swtpm.tcti, blob, PCR)


def test_a_tpm_that_is_not_there_is_named(tmp_path: Path) -> None:
    if software_tpm_missing() is not None:
        pytest.skip(software_tpm_missing() or "")
    with pytest.raises(TpmError, match=f"TPM connection through 'swtpm:path={tmp_path}/none'"):
        enrol_attestation_key(f"swtpm:path={tmp_path}/none")


def test_the_tpm_configuration_comes_from_the_environment() -> None:
    assert TpmConfig.from_environment({}) is None
    assert TpmConfig.from_environment({TPM_VARIABLE: "device:/dev/tpmrm0"}) == TpmConfig(
        "device:/dev/tpmrm0", DEFAULT_PCR
    )
    config = TpmConfig.from_environment({TPM_VARIABLE: "swtpm:path=/s", PCR_VARIABLE: "16"})
    assert config == TpmConfig("swtpm:path=/s", 16)
    for bad in ("24", "sixteen"):
        with pytest.raises(TpmError, match=f"{PCR_VARIABLE}='{bad}'"):
            TpmConfig.from_environment({TPM_VARIABLE: "swtpm:path=/s", PCR_VARIABLE: bad})


def test_an_enrolment_hands_the_key_over_a_pipe(swtpm: SoftwareTpm) -> None:
    with handover(None) as (arguments, descriptors):
        assert (arguments, descriptors) == ([], ())
    enrolment = TpmConfig(swtpm.tcti, PCR).enrol()
    assert enrolment.anchor == TpmAnchor(AttestationKey.from_tpm(enrolment.blob.public), PCR)
    with handover(enrolment) as (arguments, descriptors):
        assert arguments[:4] == ["--tpm", swtpm.tcti, "--tpm-pcr", str(PCR)]
        assert arguments[-2:] == ["--tpm-key-fd", str(descriptors[0])]
        with open(descriptors[0], "rb", closefd=False) as pipe:
            assert AttestationKeyBlob.decode(pipe.readline()) == enrolment.blob


def test_a_service_asked_for_a_tpm_without_its_key_pipe_exits_2(tmp_path: Path) -> None:
    pem = KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    argv = [sys.executable, "-m", "secmas.trust.measurer_service", "--socket", "s.sock"]
    argv += ["--key-file", "/dev/stdin", "--tpm", "swtpm:path=/none"]
    done = subprocess.run(argv, input=pem, capture_output=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert b"--tpm needs --tpm-key-fd" in done.stderr and b"Traceback" not in done.stderr
