"""Attacks on a measurer whose log is quoted by a TPM.

The finding: the measurer's Ed25519 key is a file, and an agent that reads it
answers challenges for its own implanted process. With a TPM configured, each measurement
is extended into a PCR and quoted with an attestation key (AK) that lives in the TPM and
whose authorisation only the measurer process holds, so the stolen file is no longer
enough. The TPM is a real `swtpm` started for each test (skipped, naming what is missing,
where swtpm or tpm2-pytss is not installed); the victim is a real process (the fixtures of
`test_measurement_external`). Each forgery below is first shown to pass under the stolen
key alone (today's appraisal), then refused once the verifier expects a quote.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from tests.security.test_measurement_external import (
    PACKAGE,
    WX_SHELLCODE,
    Host,
    failed_because,
)
from tests.security.test_measurement_external import host as host  # the fixture

from secmas.trust.measurer import LogEntry, MeasurerAppraisal, SignedEvidence, appraise
from secmas.trust.measurer_service import ExternalVerifier, HostMeasurer
from secmas.trust.tpm import (
    PcrQuoter,
    SoftwareTpm,
    TpmConfig,
    enrol_attestation_key,
)
from secmas.trust.tpmquote import AttestationKey, TpmAnchor

PCR = 23


@dataclass
class QuotedHost:
    """The host of `test_measurement_external` with its measurer quoting through a TPM,
    and what the verifier registered at enrolment (the AK's public area, the PCR)."""

    host: Host
    anchor: TpmAnchor

    def appraise(
        self, evidence: SignedEvidence, pid: int, nonce: bytes, *, quoted: bool = True
    ) -> MeasurerAppraisal:
        host = self.host
        key = host.measurer.key.public_key()
        tpm = self.anchor if quoted else None
        expected = host.expect(pid, nonce)
        return appraise(evidence, host.reference, key, expected, host.secaas.public_key(), tpm=tpm)


def clean_log(host: Host) -> list[LogEntry]:
    """What an implanted agent answers with: the log of a clean process of the same agent
    (a sibling, measured for it), signed for its own process."""
    return host.measurer.entries(host.start())


@pytest.fixture
def quoted(host: Host, swtpm: SoftwareTpm) -> Iterator[QuotedHost]:
    blob = enrol_attestation_key(swtpm.tcti)
    quoter = PcrQuoter.open(swtpm.tcti, blob, PCR)
    try:
        host.measurer = replace(host.measurer, quoter=quoter)
        yield QuotedHost(host, TpmAnchor(AttestationKey.from_tpm(blob.public), PCR))
    finally:
        quoter.close()


def test_a_genuine_measurement_with_a_tpm_quote_passes(quoted: QuotedHost) -> None:
    pid, nonce = quoted.host.start(), secrets.token_bytes(32)
    evidence = quoted.host.measurer.measure(pid, nonce)
    assert evidence.quote is not None
    appraisal = quoted.appraise(SignedEvidence.decode(evidence.encode()), pid, nonce)
    assert appraisal.passed, appraisal.reasons


def test_evidence_signed_with_the_stolen_measurer_key_and_no_quote_is_refused(
    quoted: QuotedHost,
) -> None:
    pid, nonce = quoted.host.start(WX_SHELLCODE), secrets.token_bytes(32)
    stolen = quoted.host.measurer.key
    forged = SignedEvidence.sign(stolen, "host-1", pid, nonce, clean_log(quoted.host))
    assert quoted.appraise(forged, pid, nonce, quoted=False).passed  # the attack
    assert failed_because(quoted.appraise(forged, pid, nonce), "no TPM quote")


def test_a_quote_by_a_key_the_agent_made_in_the_same_tpm_is_refused(
    quoted: QuotedHost, swtpm: SoftwareTpm
) -> None:
    # The agent can talk to the TPM (same user as the swtpm): it makes an AK of its own,
    # extends the forged log's aggregate and quotes the verifier's nonce with it.
    pid, nonce = quoted.host.start(WX_SHELLCODE), secrets.token_bytes(32)
    clean = clean_log(quoted.host)
    forged = SignedEvidence.sign(quoted.host.measurer.key, "host-1", pid, nonce, clean)
    own = PcrQuoter.open(swtpm.tcti, enrol_attestation_key(swtpm.tcti), PCR)
    try:
        requoted = own.attest(forged)
    finally:
        own.close()
    assert requoted.quote is not None
    appraisal = quoted.appraise(requoted, pid, nonce)
    assert failed_because(appraisal, "not signed by the attestation key registered")


def test_a_quote_replayed_with_another_nonce_is_refused(quoted: QuotedHost) -> None:
    # A genuine, quoted measurement taken while the agent was clean, kept; the agent is
    # then infected and answers the next challenge with the kept log and quote.
    pid, earlier = quoted.host.start(), secrets.token_bytes(32)
    kept = quoted.host.measurer.measure(pid, earlier)
    quoted.host.later(pid, WX_SHELLCODE)
    nonce = secrets.token_bytes(32)
    stolen = quoted.host.measurer.key
    forged = replace(
        SignedEvidence.sign(stolen, "host-1", pid, nonce, kept.entries), quote=kept.quote
    )
    assert quoted.appraise(forged, pid, nonce, quoted=False).passed
    assert failed_because(quoted.appraise(forged, pid, nonce), "TPM quote answers another")
    assert failed_because(quoted.appraise(quoted.host.measurer.measure(pid, nonce), pid, nonce),
                          "wx mapping")  # fmt: skip


def test_a_log_that_does_not_replay_to_the_quoted_pcr_is_refused(quoted: QuotedHost) -> None:
    # The genuine, quoted answer to this very challenge, its log swapped for a clean one
    # and signed again with the stolen key; the TPM's quote is kept as it came.
    pid, nonce = quoted.host.start(WX_SHELLCODE), secrets.token_bytes(32)
    genuine = quoted.host.measurer.measure(pid, nonce)
    stolen = quoted.host.measurer.key
    forged = SignedEvidence.sign(stolen, "host-1", pid, nonce, clean_log(quoted.host))
    forged = replace(forged, quote=genuine.quote)
    assert quoted.appraise(forged, pid, nonce, quoted=False).passed
    assert failed_because(quoted.appraise(forged, pid, nonce), f"replay to the quoted PCR {PCR}")


def test_the_service_quotes_each_measurement_and_a_quote_stripped_off_is_refused(
    host: Host, swtpm: SoftwareTpm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The measurer service as the IML driver starts it, with a TPM: the driver makes the
    AK and registers its public area; the service's answers carry quotes, a genuine agent
    passes and an infected one fails. The quote is outside the Ed25519 signature, so an
    answer with its quote removed still bears a valid signature: it is refused."""
    monkeypatch.setenv("PYTHONPATH", str(host.root.parent))  # the service finds the package
    service = HostMeasurer.start(tmp_path, "host-1", (PACKAGE,), tpm=TpmConfig(swtpm.tcti, PCR))
    try:
        client = service.client
        assert client.tpm is not None and client.tpm.pcr == PCR
        verifier = ExternalVerifier(client, host.reference, host.secaas.public_key(), host.modules)
        genuine, infected = host.start(), host.start(WX_SHELLCODE)
        passed = asyncio.run(verifier.check(genuine))
        assert passed.passed, passed.reasons
        assert failed_because(asyncio.run(verifier.check(infected)), "wx mapping")

        nonce = secrets.token_bytes(32)
        answer = client.measure_now(genuine, nonce)
        assert answer.quote is not None
        stripped = replace(answer, quote=None)
        assert stripped.signed_by(client.public_key)
        expected, secaas = host.expect(genuine, nonce), host.secaas.public_key()
        tpm = client.tpm
        refused = appraise(stripped, host.reference, client.public_key, expected, secaas, tpm=tpm)
        assert failed_because(refused, "no TPM quote")
    finally:
        service.stop()
