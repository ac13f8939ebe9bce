"""The measurer's TPM: a software TPM for a host or a test, the attestation key the
IML driver makes at enrolment, and the measurer's extend-and-quote (the I/O half;
`secmas.trust.tpmquote` reads and checks a quote without a TPM).

With a TPM configured, the measurer extends each measurement's aggregate into one PCR
and answers with a quote of it by an attestation key (AK): a restricted ECDSA P-256
signing key made in the TPM, whose private part never leaves it in the clear. The IML
driver makes the AK before the measurer starts and keeps the public area the TPM
returned (what verifiers register); the measurer receives the wrapped key and its
authorisation value through a pipe, never in a file, so an agent that reads the
measurer's files, its Ed25519 key included, cannot have the TPM sign. One aggregate
per measurement, not one extension per log entry: a hardware TPM takes milliseconds per
command and a log has hundreds of entries; the aggregate is already their PCR-extend fold.

A TPM is named by a TCTI: `device:/dev/tpmrm0` on a host with one (the kernel's resource
manager), `swtpm:path=SOCKET` for `SoftwareTpm` (tests, a host without one). A measurer
service takes it as `--tpm` (with `--tpm-pcr` and `--tpm-key-fd`), `HostMeasurer.launch`
as `tpm=` or from `SECMAS_MEASURER_TPM` (and `SECMAS_MEASURER_PCR`).

Decision: the TPM is driven through tpm2-pytss (Python bindings of tpm2-tss's ESAPI)
rather than tpm2-tools' commands. The AK's authorisation value and loaded context stay
in the measurer's memory (the tools take an authorisation on the command line, which
`/proc` shows everyone, or in a file, and keep contexts in files); a command costs a call,
not a process (about 0.1 ms against swtpm); failures come as exceptions with the TPM's
response code. Its cost is a compiled dependency (Debian's libtss2-dev to build it). The
verifier side needs neither: parsing and checking a quote is `cryptography` alone.

What a TPM does not give here: a root process on the host, or one that can ptrace the
measurer, uses the AK through the measurer (keep agents under another user); a software
TPM's state is a file its user can read; and the verifier trusts the AK because the
driver made it, not through the TPM's endorsement key and its certificate.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from socket import AF_UNIX, SOCK_STREAM
from socket import socket as unix_socket
from types import TracebackType
from typing import TYPE_CHECKING, Any

from secmas.processend import end_process
from secmas.trust.measurer import MeasurerError, SignedEvidence
from secmas.trust.tpmquote import AttestationKey, QuoteError, TpmAnchor, TpmQuote, qualifying_data

if TYPE_CHECKING:
    from tpm2_pytss import ESAPI, TPMS_CONTEXT

TPM_VARIABLE = "SECMAS_MEASURER_TPM"
PCR_VARIABLE = "SECMAS_MEASURER_PCR"
DEFAULT_PCR = 23
"""PC Client's PCR for applications; any PCR serves (the quote carries its prior value)."""
PCRS = 24
INSTALL_HINT = "install Debian's swtpm and libtss2-dev, then pip install tpm2-pytss"
MAX_HANDOVER = 4096

_STORAGE_KEY = "ecc256:aes128cfb"
_STORAGE_ATTRIBUTES = (
    "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt|noda"
)
_AK = "ecc256:ecdsa-sha256:null"
_AK_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign|noda"


class TpmError(MeasurerError):
    """A TPM that cannot be reached or refused a command; the message names the step."""


def software_tpm_missing() -> str | None:
    """Why a software TPM cannot be used here (None: swtpm and tpm2-pytss are installed)."""
    lacking = [] if shutil.which("swtpm") else ["swtpm"]
    try:
        import tpm2_pytss  # noqa: F401
    except ImportError:
        lacking.append("tpm2-pytss")
    return f"{' and '.join(lacking)} missing: {INSTALL_HINT}" if lacking else None


@contextlib.contextmanager
def _step(what: str) -> Iterator[None]:
    """TPM failures (tpm2-pytss raises TSS2_Exception, a RuntimeError) as TpmError."""
    try:
        yield
    except TpmError:
        raise
    except (RuntimeError, OSError) as exc:
        raise TpmError(f"TPM {what}: {exc}") from None


def _esapi(tcti: str) -> ESAPI:
    try:
        from tpm2_pytss import ESAPI
    except ImportError:
        raise TpmError(f"a TPM needs tpm2-pytss: {INSTALL_HINT}") from None
    with _step(f"connection through {tcti!r}"):
        return ESAPI(tcti)


@dataclass
class SoftwareTpm:
    """A swtpm process with its state in a directory of its own, served on a Unix socket
    (and its control socket beside it) that only this user can open."""

    process: subprocess.Popen[bytes]
    state: Path

    @property
    def socket(self) -> Path:
        return self.state / "tpm.sock"

    @property
    def tcti(self) -> str:
        return f"swtpm:path={self.socket}"

    @classmethod
    def start(cls, state: Path, timeout: float = 10.0) -> SoftwareTpm:
        """Start a TPM 2.0 manufactured afresh in `state` (created) and wait until it
        listens; TpmError naming why when swtpm is missing, exits or takes longer."""
        binary = shutil.which("swtpm")
        if binary is None:
            raise TpmError(f"swtpm not found: {INSTALL_HINT}")
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        socket, log = state / "tpm.sock", state / "swtpm.log"
        argv = [binary, "socket", "--tpm2", "--tpmstate", f"dir={state},mode=0600"]
        argv += ["--server", f"type=unixio,path={socket},mode=0600"]
        argv += ["--ctrl", f"type=unixio,path={socket}.ctrl,mode=0600"]
        argv += ["--flags", "not-need-init,startup-clear", "--log", f"file={log}"]
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)  # fmt: skip
        tpm = cls(process, state)
        deadline = time.monotonic() + timeout
        while not (_listens(socket) and _listens(Path(f"{socket}.ctrl"))):
            if process.poll() is not None or time.monotonic() > deadline:
                tpm.stop()
                said = (process.stderr.read() if process.stderr else b"").decode(errors="replace")
                if log.exists():
                    said += log.read_text(errors="replace")
                raise TpmError(f"swtpm in {state} did not listen: {said.strip()[-300:]}")
            time.sleep(0.02)
        return tpm

    def stop(self) -> None:
        end_process(self.process, 5.0)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def __enter__(self) -> SoftwareTpm:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _listens(path: Path) -> bool:
    """Whether a Unix socket at `path` takes a connection: swtpm creates the file when it
    binds, a moment before it listens (a client between the two was refused under load)."""
    with unix_socket(AF_UNIX, SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class AttestationKeyBlob:
    """An AK as the IML driver hands it to its measurer: the public area, the private area
    wrapped by the TPM's storage key (loadable into that TPM only) and the authorisation
    value the TPM asks before it signs (random; it goes through a pipe, never a file)."""

    public: bytes
    private: bytes
    auth: bytes

    def encode(self) -> bytes:
        fields = {"public": self.public, "private": self.private, "auth": self.auth}
        return json.dumps({k: v.hex() for k, v in fields.items()}).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> AttestationKeyBlob:
        try:
            data = json.loads(line)
            return cls(*(bytes.fromhex(data[k]) for k in ("public", "private", "auth")))
        except (ValueError, KeyError, TypeError):
            raise TpmError("attestation key handed over: not a JSON line of hex fields "
                           "'public', 'private' and 'auth'") from None  # fmt: skip

    def pipe(self) -> int:
        """The read end of a pipe holding the encoded key, its write end closed: a few
        hundred bytes, which the pipe keeps until the measurer reads them."""
        read, write = os.pipe()
        try:
            os.write(write, self.encode())
        finally:
            os.close(write)
        return read


def _storage_key(esys: ESAPI) -> Any:
    """The owner hierarchy's storage primary: the same key for the same template, so the
    driver and the measurer each make it and the AK wrapped by it loads in both."""
    from tpm2_pytss import TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE
    from tpm2_pytss.constants import ESYS_TR

    template = TPM2B_PUBLIC.parse(_STORAGE_KEY, objectAttributes=_STORAGE_ATTRIBUTES)
    with _step("storage key"):
        return esys.create_primary(TPM2B_SENSITIVE_CREATE(), template, ESYS_TR.OWNER)[0]


def enrol_attestation_key(tcti: str) -> AttestationKeyBlob:
    """Make an AK in the TPM under its storage key (what the IML driver does before it
    starts the measurer); the TPM keeps nothing loaded afterwards."""
    from tpm2_pytss import TPM2B_AUTH, TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE, TPMS_SENSITIVE_CREATE

    auth = secrets.token_bytes(32)
    sensitive = TPM2B_SENSITIVE_CREATE(TPMS_SENSITIVE_CREATE(userAuth=TPM2B_AUTH(auth)))
    template = TPM2B_PUBLIC.parse(_AK, objectAttributes=_AK_ATTRIBUTES)
    esys = _esapi(tcti)
    try:
        with _step("attestation key creation"):
            parent = _storage_key(esys)
            try:
                private, public = esys.create(parent, sensitive, template)[:2]
            finally:
                esys.flush_context(parent)
    finally:
        esys.close()
    return AttestationKeyBlob(public.marshal(), private.marshal(), auth)


@dataclass
class PcrQuoter:
    """The measurer's use of the TPM: extend a measurement's aggregate into `pcr`, quote
    it with the AK. The AK is kept as a saved context (in this process's memory) and
    loaded for each quote only: a TPM without a resource manager (swtpm) has three object
    slots, and a measurer stopped by a signal would otherwise leave its key in one."""

    esys: ESAPI
    saved: TPMS_CONTEXT
    auth: bytes
    pcr: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    """One ESAPI context, and measurements run in threads: one TPM sequence at a time."""

    @classmethod
    def open(cls, tcti: str, blob: AttestationKeyBlob, pcr: int) -> PcrQuoter:
        from tpm2_pytss import TPM2B_PRIVATE, TPM2B_PUBLIC

        _check_pcr(pcr)
        esys = _esapi(tcti)
        try:
            with _step("attestation key load (made in this TPM?)"):
                public = TPM2B_PUBLIC.unmarshal(blob.public)[0]
                private = TPM2B_PRIVATE.unmarshal(blob.private)[0]
                parent = _storage_key(esys)
                try:
                    key = esys.load(parent, private, public)
                finally:
                    esys.flush_context(parent)
                saved = esys.context_save(key)
                esys.flush_context(key)
        except BaseException:
            esys.close()
            raise
        return cls(esys, saved, blob.auth, pcr)

    @classmethod
    def handed(cls, tcti: str, pcr: int, descriptor: int) -> PcrQuoter:
        """The quoter of a measurer service, from the AK its driver put in the pipe it
        passed as `descriptor` (`Enrolment.handover`)."""
        try:
            with os.fdopen(descriptor, "rb") as pipe:
                line = pipe.readline(MAX_HANDOVER)
        except OSError as exc:
            raise TpmError(f"attestation key pipe {descriptor}: {exc}") from None
        return cls.open(tcti, AttestationKeyBlob.decode(line), pcr)

    def attest(self, evidence: SignedEvidence) -> SignedEvidence:
        """`evidence` with the TPM's quote of its aggregate, extended into the PCR now,
        answering the same challenge (nonce, process, measurer)."""
        from tpm2_pytss import TPM2B_DATA, TPML_DIGEST_VALUES, TPMT_HA, TPMT_SIG_SCHEME, TPMU_HA
        from tpm2_pytss.constants import ESYS_TR, TPM2_ALG

        qualifying = qualifying_data(evidence.measurer, evidence.pid, evidence.nonce)
        digest = TPMT_HA(hashAlg=TPM2_ALG.SHA256, digest=TPMU_HA(sha256=evidence.aggregate))
        selection = f"sha256:{self.pcr}"
        with self.lock, _step(f"quote of PCR {self.pcr}"):
            before = bytes(self.esys.pcr_read(selection)[2][0])
            self.esys.pcr_extend(ESYS_TR(self.pcr), TPML_DIGEST_VALUES([digest]))
            key = self.esys.context_load(self.saved)
            try:
                self.esys.tr_set_auth(key, self.auth)
                attest, signature = self.esys.quote(
                    key, selection, TPM2B_DATA(qualifying), TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL)
                )
            finally:
                self.esys.flush_context(key)
        # TPM2B_ATTEST: a 2-byte size, then the TPMS_ATTEST the signature covers
        quote = TpmQuote(before, attest.marshal()[2:], signature.marshal())
        return replace(evidence, quote=quote)

    def close(self) -> None:
        with self.lock:
            self.esys.close()


def _check_pcr(pcr: int) -> None:
    if not 0 <= pcr < PCRS:
        raise TpmError(f"PCR {pcr} out of range: a TPM has PCRs 0 to {PCRS - 1}")


@dataclass(frozen=True)
class TpmConfig:
    """Which TPM a host's measurer quotes with (a TCTI) and the PCR it extends."""

    tcti: str
    pcr: int = DEFAULT_PCR

    def __post_init__(self) -> None:
        _check_pcr(self.pcr)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> TpmConfig | None:
        """From `SECMAS_MEASURER_TPM` (a TCTI) and `SECMAS_MEASURER_PCR`; None when unset."""
        tcti = environ.get(TPM_VARIABLE, "")
        if not tcti:
            return None
        text = environ.get(PCR_VARIABLE, str(DEFAULT_PCR))
        try:
            return cls(tcti, int(text))
        except (ValueError, TpmError) as exc:
            raise TpmError(f"{PCR_VARIABLE}={text!r}: {exc}") from None

    def enrol(self) -> Enrolment:
        """The driver's step before it starts the measurer: make the AK, note its public
        area and this PCR for verifiers."""
        blob = enrol_attestation_key(self.tcti)
        try:
            key = AttestationKey.from_tpm(blob.public)
        except QuoteError as exc:
            raise TpmError(f"the TPM's attestation key: {exc}") from None
        return Enrolment(self, blob, TpmAnchor(key, self.pcr))


@dataclass(frozen=True)
class Enrolment:
    """A measurer's AK, made before its service starts: the key handed to the service and
    what verifiers register."""

    config: TpmConfig
    blob: AttestationKeyBlob
    anchor: TpmAnchor


@contextlib.contextmanager
def handover(enrolment: Enrolment | None) -> Iterator[tuple[list[str], tuple[int, ...]]]:
    """The measurer service's TPM arguments and the descriptor to pass it (`pass_fds`): a
    pipe holding the AK, closed here once the service has its copy (none without a TPM)."""
    if enrolment is None:
        yield [], ()
        return
    config, read = enrolment.config, enrolment.blob.pipe()
    try:
        arguments = ["--tpm", config.tcti, "--tpm-pcr", str(config.pcr)]
        yield [*arguments, "--tpm-key-fd", str(read)], (read,)
    finally:
        os.close(read)
