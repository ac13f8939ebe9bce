"""The host's measurer as a service: one process per host, outside every agent, serving
measurements over a Unix socket (`python -m secmas.trust.measurer_service`).

The IML driver starts it (`HostMeasurer.start`) with a key of its own and keeps the public
key; verifiers ask it through `MeasurerClient.measure(pid, nonce)` and appraise what comes
back with `secmas.trust.measurer.appraise`. One request per connection: a JSON line
`{"pid": …, "nonce": "<hex>"}`, answered by the signed evidence or `{"error": …}`.

Out of the agents' reach: whoever holds the key signs evidence of an implanted process
that passes, so the key never touches a disk — the driver hands it over the service's
stdin (`--key-file /dev/stdin`) — and the service makes itself undumpable
(PR_SET_DUMPABLE 0), so that a process of its user without CAP_SYS_PTRACE reads neither
its memory nor its file descriptors. Its socket (0600, in a private folder) answers only
the driver that started it (`--client`, checked by SO_PEERCRED): a measurement is of a
real process, but its nonce is the asker's choice, and no agent has a use for an answer
signed for a challenge of its own. Agents run as another user besides
(`secmas.pipeline.agentuser`), which reaches neither the socket nor the service's memory.

On another host (`secmas.pipeline.hosts`, agents started over ssh), the driver starts the
service through that host's start template with `--stdio`: it makes its key there, in its
memory, and announces the public key on its first line (`KEY_PREFIX`); requests and answers
then travel as lines over the template's stdin and stdout (the ssh channel, which already
authenticates the host: no port opens), one at a time (`PipeClient`), and the service ends
with its input. SECaaS registers the announced key for that host (`MeasurerRegistration`)
and the verifier checks evidence only under a key so registered; the platform reference is
this host's, so a remote host runs the identical install at the same paths (the same
interpreter build too: `secmas.trust.manifest.InterpreterBuild`).

Not a single point of failure: a measurer that exited, or missed two answers in a row, is
replaced by a successor with a key of its own (`ExternalAttestation._replace`), checks
waiting for it. A check left unanswered makes the host down (`down`) until one is
answered: a state of the host, under which its agents are withdrawn from auctions, never
a verdict on them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import logging
import os
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from socket import SO_PEERCRED, SOL_SOCKET
from typing import IO, TYPE_CHECKING, Any, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secmas.processend import end_process
from secmas.trust.allowlist import AGENT_VARIABLES, Command, agent_command
from secmas.trust.deadlines import Deadlines
from secmas.trust.keys import KeyFileError, load_private_key, public_key_hex
from secmas.trust.measurer import (
    NONCE_BYTES,
    Expectation,
    MeasurerAppraisal,
    MeasurerError,
    PlatformReference,
    SignedEvidence,
    appraise,
    module_digests,
)
from secmas.trust.measurer_probe import Measurer, platform_reference, started_with
from secmas.trust.signed import SignedDocument
from secmas.trust.tpm import DEFAULT_PCR, PcrQuoter, TpmConfig, handover
from secmas.trust.tpmquote import TpmAnchor

if TYPE_CHECKING:  # the service itself never reads a manifest (and starts faster without)
    from secmas.trust.manifest import ReferenceManifest

MAX_REQUEST = 4096
MAX_ANSWER = 16 << 20
PARENT_POLL_S = 0.5
KEY_PIPE = Path("/dev/stdin")
"""Where the service reads a key handed over its stdin (`HostMeasurer.launch`)."""
_PR_SET_DUMPABLE = 4
KEY_PREFIX = "secmas-measurer: key "
"""How a `--stdio` service's first line announces its public key (hex)."""
SERVICE = ("-m", "secmas.trust.measurer_service")
_REGISTRATION_DOMAIN = b"secmas/measurer-registration/1\x00"

StartOn = Callable[[Sequence[str]], list[str]]
"""How a command runs on a remote host: the interpreter's arguments there → the local
argv that starts it (`secmas.pipeline.hosts.Host.start_python`)."""

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _answer(measurer: Measurer, request: bytes) -> bytes:
    """The evidence for one request line, or an error object naming what is wrong."""
    try:
        data = json.loads(request)
        pid, nonce = data["pid"], bytes.fromhex(data["nonce"])
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise ValueError("pid must be a positive integer")
        if len(nonce) != NONCE_BYTES:
            raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    except (ValueError, KeyError, TypeError) as exc:
        return json.dumps({"error": f"bad request: {exc}"}).encode()
    try:
        return measurer.measure(pid, nonce).encode()
    except MeasurerError as exc:
        return json.dumps({"error": str(exc)}).encode()


def _peer_pid(writer: asyncio.StreamWriter) -> int:
    """The process at the other end of a Unix connection, as the kernel saw it connect."""
    credentials = writer.get_extra_info("socket").getsockopt(
        SOL_SOCKET, SO_PEERCRED, struct.calcsize("3i")
    )
    pid, _uid, _gid = struct.unpack("3i", credentials)
    return int(pid)


async def serve(
    measurer: Measurer, socket: Path, parent: int | None = None, client: int | None = None
) -> None:
    """Answer requests on `socket` until cancelled, or until process `parent` (the IML
    driver that started it) is gone; each measurement runs off the loop. With `client`,
    only that process is answered (module docstring)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            asker = _peer_pid(writer)
            request = await reader.readline()
            if client is not None and asker != client:
                refusal = f"refused: process {asker} is not this measurer's client"
                answer = json.dumps({"error": refusal}).encode()
            elif len(request) <= MAX_REQUEST:
                answer = await asyncio.to_thread(_answer, measurer, request)
            else:
                answer = json.dumps({"error": "request too long"}).encode()
            writer.write(answer + b"\n")
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_unix_server(handle, path=str(socket), limit=MAX_REQUEST * 2)
    os.chmod(socket, 0o600)
    async with server:
        serving = asyncio.ensure_future(server.serve_forever())
        while parent is None or os.getppid() == parent:
            done, _ = await asyncio.wait({serving}, timeout=PARENT_POLL_S)
            if done:
                return
        serving.cancel()  # orphaned: the driver died without stopping it


def serve_lines(measurer: Measurer, requests: IO[bytes], answers: IO[bytes]) -> None:
    """`--stdio`: answer each request line of `requests` on `answers` until its end."""
    for request in iter(lambda: requests.readline(MAX_REQUEST + 1), b""):
        if len(request) > MAX_REQUEST and not request.endswith(b"\n"):
            answer = json.dumps({"error": "request too long"}).encode()
            requests.readline()  # the rest of that line
        else:
            answer = _answer(measurer, request)
        answers.write(answer + b"\n")
        answers.flush()


@dataclass(frozen=True)
class MeasurerRegistration(SignedDocument):
    """SECaaS's record, made at enrolment, of the key a host's measurer announced: evidence
    from that host counts only under the key registered for it (module docstring)."""

    host: str
    measurer_key: str
    public_key: str = ""
    signature: str = ""

    def signed_bytes(self) -> bytes:
        data = {"host": self.host, "measurer_key": self.measurer_key, "public_key": self.public_key}
        return _REGISTRATION_DOMAIN + json.dumps(data, sort_keys=True).encode()

    def problem(self, host: str, key: Ed25519PublicKey, secaas: Ed25519PublicKey) -> str | None:
        """Why this does not register `key` for `host` under `secaas` (None: it does)."""
        if not self.signed_by(secaas):
            return f"the registration of {host}'s measurer is not signed by SECaaS"
        if self.host != host or self.measurer_key != public_key_hex(key):
            return f"{host}'s measurer answers under a key not registered for it"
        return None


@dataclass(frozen=True)
class MeasurerClient:
    """A verifier's handle on a host's measurer."""

    socket: Path
    public_key: Ed25519PublicKey
    deadlines: Deadlines = field(default_factory=Deadlines.bounded)
    """How long an answer may take (`Deadlines.bounded`): the measured round trips, never
    beyond one attestation period, so that a stopped or hung measurer is noticed within it
    (a dead one at once: the connection fails). The run sets its scenario's."""
    tpm: TpmAnchor | None = None
    """The AK and PCR registered when the driver made the measurer's TPM key: evidence
    without a valid quote by it is refused (`secmas.trust.measurer.appraise`)."""

    async def measure(self, pid: int, nonce: bytes) -> SignedEvidence:
        """Signed evidence about process `pid`; MeasurerDown when the measurer did not
        answer, MeasurerError when its answer is an error or no evidence."""
        wait, started = self.deadlines.wait(str(self.socket)), time.perf_counter()
        request = json.dumps({"pid": pid, "nonce": nonce.hex()}).encode() + b"\n"
        try:
            async with asyncio.timeout(wait):
                answer = await self._ask(request)
        except TimeoutError:
            raise MeasurerDown(f"{NOT_ANSWERING} at {self.socket} in {wait:g} s") from None
        except OSError as exc:
            raise MeasurerDown(f"measurer at {self.socket} unreachable: {exc}") from None
        if not answer:
            raise MeasurerDown(f"measurer at {self.socket} closed without an answer")
        self.deadlines.answered(str(self.socket), time.perf_counter() - started)
        return _evidence(answer)

    async def _ask(self, request: bytes) -> bytes:
        """One request line over a fresh connection; the answer line (empty: none)."""
        reader, writer = await asyncio.open_unix_connection(str(self.socket), limit=MAX_ANSWER)
        try:
            writer.write(request)
            await writer.drain()
            return await reader.readline()
        except ValueError as exc:  # a line beyond MAX_ANSWER
            raise MeasurerError(f"no answer from the measurer: {exc}") from None
        finally:
            writer.close()

    def measure_now(self, pid: int, nonce: bytes) -> SignedEvidence:
        """`measure` for callers without an event loop."""
        return _run_here(self.measure(pid, nonce))

    def listening(self) -> bool:
        return self.socket.exists()


@dataclass(frozen=True)
class PipeClient:
    """A verifier's handle on a remote host's measurer (`--stdio`): requests over the
    start template's stdin, answers from its stdout, one at a time. An answer that comes
    too late would be read as the next one's, so a late measurer is killed: the check says
    it is down, and the next one starts a successor (`ExternalAttestation._measured`)."""

    process: subprocess.Popen[bytes]
    public_key: Ed25519PublicKey
    host: str
    deadlines: Deadlines = field(default_factory=Deadlines.bounded)
    tpm: TpmAnchor | None = None
    """Always None: a remote host's TPM is not used (yet)."""
    _turn: threading.Lock = field(default_factory=threading.Lock, compare=False)

    async def measure(self, pid: int, nonce: bytes) -> SignedEvidence:
        """As `MeasurerClient.measure`, over the pipe."""
        wait, started = self.deadlines.wait(self.host), time.perf_counter()
        request = json.dumps({"pid": pid, "nonce": nonce.hex()}).encode() + b"\n"
        try:
            async with asyncio.timeout(wait):
                answer = await asyncio.to_thread(self._ask, request)
        except TimeoutError:
            self._end()
            raise MeasurerDown(f"{NOT_ANSWERING} on {self.host} in {wait:g} s") from None
        except OSError as exc:
            self._end()
            raise MeasurerDown(f"measurer on {self.host} unreachable: {exc}") from None
        if not answer:
            self._end()
            raise MeasurerDown(f"measurer on {self.host} ended without an answer")
        self.deadlines.answered(self.host, time.perf_counter() - started)
        return _evidence(answer)

    def _ask(self, request: bytes) -> bytes:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        with self._turn:
            stdin.write(request)
            stdin.flush()
            return stdout.readline(MAX_ANSWER)

    def listening(self) -> bool:
        return self.process.poll() is None

    def _end(self) -> None:
        """A pipe that failed once is out of step or closed: its process is ended here,
        so that the check replaces it at once (`ExternalAttestation._measured`)."""
        self.process.kill()
        self.process.wait()


NOT_ANSWERING = "measurer not answering"


class MeasurerDown(MeasurerError):
    """No answer came from the measurer (stopped, hung, gone): the measurer's state,
    which says nothing about the process it was asked about."""


def _evidence(answer: bytes) -> SignedEvidence:
    """The evidence in the measurer's answer, or its error (`_answer` writes errors as a
    one-key object, parsed here; evidence, megabytes of it, is parsed once, by decode)."""
    if answer.startswith(b'{"error"'):
        try:
            error = json.loads(answer).get("error")
        except ValueError:
            error = None
        raise MeasurerError(f"measurer: {error if isinstance(error, str) else answer[:80]!r}")
    return SignedEvidence.decode(answer.strip())


def _announced(process: subprocess.Popen[bytes], timeout: float, log: Path) -> Ed25519PublicKey:
    """The public key a `--stdio` service announces on its first line (module docstring);
    MeasurerError, with the end of its log, when none comes within `timeout`."""
    assert process.stdout is not None
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline(256)))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    text = line[0].decode(errors="replace").strip() if line else ""
    try:
        if not text.startswith(KEY_PREFIX):
            raise ValueError("no key announced")
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text.removeprefix(KEY_PREFIX)))
    except ValueError:
        end_process(process, 5.0)
        said = log.read_text(errors="replace")[-400:].strip() if log.exists() else ""
        raise MeasurerError(
            f"the remote measurer announced no key in {timeout:g} s"
            f" (first line {text[:80]!r}; it said: {said or 'nothing'})"
        ) from None


def _hand_key(process: subprocess.Popen[bytes], key: Ed25519PrivateKey) -> None:
    """Write `key` into the service's stdin and close it (a few hundred bytes: the pipe
    holds them until it reads). A service that died first is noticed by `ready`."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert process.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        process.stdin.write(pem)
    with contextlib.suppress(BrokenPipeError):
        process.stdin.close()


def _undumpable() -> None:
    """No core dump, and no process of this user without CAP_SYS_PTRACE may read this
    one's memory or file descriptors (prctl(2), PR_SET_DUMPABLE)."""
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


@dataclass
class HostMeasurer:
    """The measurer process the IML driver started on this host."""

    process: subprocess.Popen[bytes]
    client: MeasurerClient | PipeClient
    private: Path | None = None
    """A directory made for the socket and log (removed on `stop`)."""
    workdir: Path | None = None
    name: str = "measurer"
    packages: tuple[str, ...] = ("secmas",)
    tpm: TpmConfig | None = None
    start_on: StartOn | None = None
    """What it was launched with (`launch`, `remote`), for a successor (`relaunch`)."""

    @classmethod
    def start(
        cls,
        workdir: Path | None = None,
        name: str = "measurer",
        packages: Sequence[str] = ("secmas",),
        tpm: TpmConfig | None = None,
    ) -> HostMeasurer:
        """`launch`, then wait until the service answers."""
        measurer = cls.launch(workdir, name, packages, tpm=tpm)
        measurer.ready()
        return measurer

    @classmethod
    def launch(
        cls,
        workdir: Path | None = None,
        name: str = "measurer",
        packages: Sequence[str] = ("secmas",),
        ahead: int | None = None,
        tpm: TpmConfig | None = None,
    ) -> HostMeasurer:
        """A fresh key, then the service process, without waiting for it (`ready`); the
        key goes over its stdin, never to a file, and it answers this process only (module
        docstring). Without a `workdir`, its socket and log go to a new private directory.
        `ahead`: a process the service measures once before it listens, as IMA measures at
        load, so that the first check pays for what changed since (the files it maps are
        hashed, their RELRO relocations read). `tpm` (else `SECMAS_MEASURER_TPM`): make an
        attestation key in that TPM first and hand it over, to quote every measurement."""
        tpm = tpm or TpmConfig.from_environment()
        enrolment = None if tpm is None else tpm.enrol()
        private = None if workdir is not None else Path(tempfile.mkdtemp(prefix="secmas-measurer-"))
        workdir = workdir or private
        assert workdir is not None
        key = Ed25519PrivateKey.generate()
        socket = workdir / f"{name}.sock"
        driver = str(os.getpid())
        argv = [sys.executable, "-m", "secmas.trust.measurer_service", "--socket", str(socket)]
        argv += ["--key-file", str(KEY_PIPE), "--name", name]
        argv += ["--parent", driver, "--client", driver]
        for package in packages:
            argv += ["--package", package]
        if ahead is not None:
            argv += ["--measure-ahead", str(ahead)]
        with (workdir / f"{name}.log").open("wb") as log, handover(enrolment) as (tpm_argv, fds):
            process = subprocess.Popen(
                argv + tpm_argv,
                pass_fds=fds,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _hand_key(process, key)
        anchor = enrolment.anchor if enrolment else None
        client = MeasurerClient(socket, key.public_key(), tpm=anchor)
        home = workdir if private is None else None
        return cls(process, client, private, home, name, tuple(packages), tpm)

    @classmethod
    def remote(
        cls,
        start_on: StartOn,
        workdir: Path,
        host: str,
        packages: Sequence[str] = ("secmas",),
        timeout: float = 30.0,
    ) -> HostMeasurer:
        """The service on `host` through `start_on` (`--stdio`, module docstring), once it
        announced its key; its errors go to `workdir/measurer-<host>.log`. MeasurerError
        when it ended, or announced nothing usable, within `timeout`."""
        name = f"measurer-{host}"
        argv = [*SERVICE, "--stdio", "--name", name]
        for package in packages:
            argv += ["--package", package]
        with (workdir / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                start_on(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        key = _announced(process, timeout, workdir / f"{name}.log")
        client = PipeClient(process, key, host)
        return cls(process, client, None, workdir, name, tuple(packages), start_on=start_on)

    def ready(self, timeout: float = 30.0) -> None:
        """Wait until the service listens; MeasurerError when it exited or took longer."""
        deadline = time.monotonic() + timeout
        while not self.client.listening():
            if self.process.poll() is not None:
                self.stop()
                raise MeasurerError(f"measurer exited with status {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise MeasurerError(f"measurer {self.name} did not listen in {timeout:g} s")
            time.sleep(0.05)

    def stop(self) -> None:
        end_process(self.process, 5.0)
        if self.private is not None:
            shutil.rmtree(self.private, ignore_errors=True)

    def relaunch(self) -> HostMeasurer:
        """A successor launched as this one was, with a key of its own (its client keeps
        this one's deadlines), once this one is killed: it exited or stopped answering,
        and nothing it was doing is worth a grace. The caller waits for it (`ready`)."""
        self.process.kill()
        self.process.wait()
        self.stop()
        if isinstance(self.client, PipeClient):
            assert self.start_on is not None and self.workdir is not None
            host = self.client.host
            successor = self.remote(self.start_on, self.workdir, host, self.packages)
        else:
            successor = self.launch(self.workdir, self.name, self.packages, tpm=self.tpm)
        successor.client = replace(successor.client, deadlines=self.client.deadlines)
        return successor


@dataclass(frozen=True)
class ExternalVerifier:
    """What a verifier needs to attest a process through the host's measurer: the
    client, the SECaaS-signed platform reference and key, the image's module digests."""

    client: MeasurerClient | PipeClient
    reference: PlatformReference
    secaas_key: Ed25519PublicKey
    modules: Mapping[str, str]
    command: Command | None = None
    """The shape an agent process's command line must have (`secmas.trust.allowlist`);
    None for the run's own process, which runs its user's command."""
    shared_with_jit: bool = False
    """See `Expectation.shared_with_jit`: only for the run's own process."""
    registration: MeasurerRegistration | None = None
    """A remote measurer's key as SECaaS registered it (a local one's key is the driver's)."""

    async def check(self, pid: int) -> MeasurerAppraisal:
        """Challenge the measurer with a fresh nonce about `pid` and appraise its answer;
        a remote measurer's evidence only under the key registered for its host."""
        unregistered = self._unregistered()
        if unregistered is not None:
            return MeasurerAppraisal(False, (unregistered,))
        nonce = secrets.token_bytes(NONCE_BYTES)
        try:
            evidence = await self.client.measure(pid, nonce)
        except MeasurerDown as exc:
            return MeasurerAppraisal(False, (str(exc),), measurer_down=True)
        except MeasurerError as exc:
            return MeasurerAppraisal(False, (str(exc),))
        expected = Expectation(nonce, pid, self.modules, self.command, self.shared_with_jit)
        client = self.client
        return appraise(
            evidence, self.reference, client.public_key, expected, self.secaas_key, tpm=client.tpm
        )

    def _unregistered(self) -> str | None:
        client = self.client
        if not isinstance(client, PipeClient):
            return None
        if self.registration is None:
            return f"{client.host}'s measurer key was never registered"
        return self.registration.problem(client.host, client.public_key, self.secaas_key)


def registered(host: HostMeasurer, secaas: Ed25519PrivateKey) -> MeasurerRegistration | None:
    """SECaaS's registration of a remote measurer's announced key (None: a local one)."""
    client = host.client
    if not isinstance(client, PipeClient):
        return None
    return MeasurerRegistration(client.host, public_key_hex(client.public_key)).sign(secaas)


@dataclass
class ExternalAttestation:
    """The relying party's use of a host's measurer: the measurer process started beside
    the agents, the references SECaaS signed for this host and image, and which process
    each agent is (the IML driver knows: it started them)."""

    host: HostMeasurer
    prepared: Future[ExternalVerifier]
    """The verifier, ready once SECaaS signed the platform reference and the measurer
    listens (`begin`)."""
    pids: dict[str, int] = field(default_factory=dict)
    results: list[tuple[str, MeasurerAppraisal]] = field(default_factory=list)
    measurements: int = 0
    """How many times the measurer was asked (`results` holds one verdict per check)."""
    restarts: list[str] = field(default_factory=list)
    """Why each successor replaced the host's measurer (`_replace`)."""
    down: str | None = None
    """Why the host's measurer does not answer now (None: it answers). The host's state,
    not a verdict on its agents: the driver withdraws them from auctions meanwhile."""
    secaas: Ed25519PrivateKey | None = None
    """Registers a successor's key (`_replace`)."""
    _asked: dict[int, int] = field(default_factory=dict)
    _last: dict[int, MeasurerAppraisal] = field(default_factory=dict)
    _replacing: threading.Lock = field(default_factory=threading.Lock)
    _stopped: bool = False

    @classmethod
    def start(
        cls,
        workdir: Path | None,
        secaas: Ed25519PrivateKey,
        manifest: ReferenceManifest,
        packages: Sequence[str] = ("secmas",),
        *,
        shared: bool = False,
        host: HostMeasurer | None = None,
        deadlines: Deadlines | None = None,
    ) -> ExternalAttestation:
        """Start the host's measurer (or use `host`, launched earlier, once it answers);
        SECaaS signs this host's platform reference. `shared`: the agents live in the
        run's own process (`Expectation.shared_with_jit`); `deadlines`: how long the
        measurer may take to answer (`begin`)."""
        if host is None:
            host = HostMeasurer.start(workdir, packages=packages)
        external = cls.begin(secaas, manifest, host, shared=shared, deadlines=deadlines)
        external.prepared.result()  # waits for both; raises what went wrong
        return external

    @classmethod
    def begin(
        cls,
        secaas: Ed25519PrivateKey,
        manifest: ReferenceManifest,
        host: HostMeasurer,
        *,
        shared: bool = False,
        deadlines: Deadlines | None = None,
    ) -> ExternalAttestation:
        """`start` without waiting: SECaaS hashes this host's files for the platform
        reference in a thread of its own while `host` finishes measuring ahead in its
        process, and the caller goes on meanwhile (a secure bring-up begins it after
        wrapping, so that this runs beside steps 5-7); the first check waits for both
        (`prepared`). A measurer that never answers fails that check, naming why.

        Agents in processes of their own are held to the allow-lists of
        `secmas.trust.allowlist`: their launchers hand them only allowed variables
        and start them with `secmas agent`'s command line. The run's own process
        (`shared`) has no launcher: its environment is its user's shell's, as it started
        (SECaaS signs the reference inside it), and its command line is the user's; the
        files it maps are held to the reference all the same.

        `deadlines` (the run's `Deadlines.bounded`, from its attestation period) bound how
        long the measurer may take to answer; without, the scenario defaults'."""
        if deadlines is not None:
            host.client = replace(host.client, deadlines=deadlines)
        prepared: Future[ExternalVerifier] = Future()
        variables = AGENT_VARIABLES | started_with() if shared else AGENT_VARIABLES
        command = None if shared else agent_command()

        def prepare() -> None:
            try:
                # hashing releases the GIL
                reference = platform_reference(secaas, variables=variables)
                host.ready()
                prepared.set_result(
                    ExternalVerifier(
                        host.client,
                        reference,
                        secaas.public_key(),
                        module_digests(manifest.entries),
                        command,
                        shared,
                        registered(host, secaas),
                    )
                )
            except BaseException as exc:  # handed to whoever waits for the verifier
                prepared.set_exception(exc)

        threading.Thread(target=prepare, name="secaas-platform-reference", daemon=True).start()
        return cls(host, prepared, secaas=secaas)

    async def check(self, agent: str) -> MeasurerAppraisal:
        """Attest `agent`'s process through the measurer (failed when its process is not
        known).

        A process is measured at the same rate whatever number of agents it hosts: one
        that hosts k agents (every agent of an in-process run) is measured on the first of
        every k checks of its agents, and the others in that round take that appraisal,
        pass or fail (they are that process), but for an unanswered one (the measurer
        down): no measurement, the next check asks again. With one agent per process,
        every check measures."""
        pid = self.pids.get(agent)
        if pid is None:
            appraisal = MeasurerAppraisal(False, (f"no process known for {agent}",))
        else:
            hosted = sum(1 for p in self.pids.values() if p == pid)
            asked = self._asked.get(pid, 0)
            self._asked[pid] = asked + 1
            last = self._last.get(pid)
            if last is None or last.measurer_down or asked % hosted == 0:
                last = self._last[pid] = await self._measured(pid)
                self.measurements += 1
            appraisal = last
        self.results.append((agent, appraisal))
        return appraisal

    async def _measured(self, pid: int) -> MeasurerAppraisal:
        """A fresh measurement of `pid`, appraised; failed when the measurer never came
        up or the platform reference could not be made. A measurer that exited, or did
        not answer twice in a row (once may be a busy host), is replaced and asked again."""
        try:
            verifier = await asyncio.wrap_future(self.prepared)
        except (MeasurerError, OSError) as exc:
            return MeasurerAppraisal(False, (f"measurer unavailable: {exc}",), measurer_down=True)
        appraisal = await verifier.check(pid)
        if appraisal.measurer_down and (self.host.process.poll() is not None or self.down):
            replaced = await asyncio.to_thread(self._replace, verifier, appraisal.reasons[0])
            appraisal = await (await asyncio.wrap_future(replaced)).check(pid)
        self.down = appraisal.reasons[0] if appraisal.measurer_down else None
        return appraisal

    def revive(self) -> None:
        """Between checks (the driver's watch): replace the host's measurer if its process
        is gone, so that no check finds it missing."""
        status = self.host.process.poll()
        if status is not None and self.prepared.done() and not self.prepared.exception():
            self._replace(self.prepared.result(), f"measurer exited with status {status}")

    def _replace(self, verifier: ExternalVerifier, why: str) -> Future[ExternalVerifier]:
        """The verifier with a successor of the measurer `verifier` asked, which exited or
        stopped answering, once it listens; checks wait for it meanwhile (the host is
        down only for a check that went unanswered: `_measured`). Its key is new;
        SECaaS's platform reference still holds (the host's files did not change). One
        that fails to start is replaced at the next check, its agents withdrawn
        meanwhile, never failed."""
        with self._replacing:
            if self._stopped or self.host.client.public_key is not verifier.client.public_key:
                return self.prepared  # replaced meanwhile by the other path, or the run ended
            logger.warning("host measurer: %s; starting a successor", why)
            host = self.host = self.host.relaunch()
            prepared: Future[ExternalVerifier] = Future()
            self.prepared = prepared
            self.restarts.append(why)
        with contextlib.suppress(MeasurerError):  # not listening: the check says so
            host.ready()
        registration = None if self.secaas is None else registered(host, self.secaas)
        prepared.set_result(replace(verifier, client=host.client, registration=registration))
        return prepared

    def check_now(self, agent: str) -> MeasurerAppraisal:
        """`check` for a worker thread (a run on a virtual clock waits for it through
        `run_blocking`, as for a ledger call)."""
        return _run_here(self.check(agent))

    def report(self) -> dict[str, object]:
        """What the run report says about external measurement."""
        return {
            "measurer_pid": self.host.process.pid,
            "measurer_key": self.host.client.public_key.public_bytes_raw().hex(),
            "checks": len(self.results),
            "measurements": self.measurements,
            "restarts": list(self.restarts),
            "unanswered": sum(1 for _, a in self.results if a.measurer_down),
            "failed": [
                {"agent": agent, "reasons": list(a.reasons[:5])}
                for agent, a in self.results
                if not a.passed
            ],
            "tolerated": sorted({note for _, a in self.results for note in a.notes})[:5],
        }

    def stop(self) -> None:
        """Stop the host's measurer. A successor that a check is starting now is started
        first, then stopped; none starts after: it would outlive the run."""
        with self._replacing:
            self._stopped = True
            self.host.stop()


def _run_here(coroutine: Coroutine[Any, Any, T]) -> T:
    """`coroutine` run to its end on a fresh event loop of this thread (the callers have
    none: worker threads). Not `asyncio.run`, which then cancels the tasks left on its loop
    and finds them by walking every task of every loop in the process (`all_tasks`): in a
    process of a thousand agents that walk was nearly all of a check's cost. These
    coroutines leave no task behind; the loop still runs once more, so that the
    connections they closed finish closing, and its executor is shut down."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def _quoter(tcti: str | None, pcr: int, descriptor: int | None) -> PcrQuoter | None:
    """The TPM quoter `--tpm` asks for, with the AK handed over `--tpm-key-fd`."""
    if tcti is None:
        return None
    if descriptor is None:
        raise MeasurerError("--tpm needs --tpm-key-fd: the pipe holding the attestation key")
    return PcrQuoter.handed(tcti, pcr, descriptor)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m secmas.trust.measurer_service",
        description="Serve signed measurements of this host's agent processes.",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", type=Path, help="Unix socket to listen on")
    where.add_argument(
        "--stdio",
        action="store_true",
        help="on a remote host: make a key, announce it, answer lines on stdin (no --key-file)",
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        help=f"Ed25519 PEM signing key ({KEY_PIPE}: handed over a pipe, never stored)",
    )
    parser.add_argument("--name", default="measurer", help="the measurer's name in evidence")
    parser.add_argument(
        "--package", action="append", help="agent package whose files to measure (repeatable)"
    )
    parser.add_argument("--parent", type=int, help="exit when this process is gone")
    parser.add_argument("--client", type=int, help="answer this process only")
    parser.add_argument(
        "--measure-ahead",
        type=int,
        metavar="PID",
        help="measure this process once before listening (its files are then kept)",
    )
    parser.add_argument("--tpm", metavar="TCTI", help="quote each measurement with this TPM")
    parser.add_argument("--tpm-pcr", type=int, default=DEFAULT_PCR, help="the PCR to extend")
    parser.add_argument("--tpm-key-fd", type=int, help="pipe holding the attestation key")
    args = parser.parse_args(argv)
    if (args.key_file is None) != args.stdio:
        parser.error("--socket needs --key-file; --stdio makes its own key")
    try:
        _undumpable()
        key = Ed25519PrivateKey.generate() if args.stdio else load_private_key(args.key_file)
        quoter = _quoter(args.tpm, args.tpm_pcr, args.tpm_key_fd)
    except (KeyFileError, OSError, MeasurerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    measurer = Measurer(args.name, key, tuple(args.package or ("secmas",)), quoter=quoter)
    if args.stdio:
        print(f"{KEY_PREFIX}{public_key_hex(key.public_key())}", flush=True)
        with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
            serve_lines(measurer, sys.stdin.buffer, sys.stdout.buffer)
        return 0
    if args.measure_ahead is not None:
        with contextlib.suppress(MeasurerError):  # a process gone or unreadable: checks say so
            measurer.measure(args.measure_ahead, bytes(NONCE_BYTES))
    args.socket.unlink(missing_ok=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(measurer, args.socket, args.parent, args.client))
    return 0


if __name__ == "__main__":
    sys.exit(main())
