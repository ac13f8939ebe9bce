"""The host's measurer as a service: one process per host, outside every agent, serving
measurements over a Unix socket (`python -m secmas.trust.measurer_service`).

The IML driver starts it (`HostMeasurer.start`) with a key of its own, written to a file
only the driver's user can read, and keeps the public key; verifiers ask it through
`MeasurerClient.measure(pid, nonce)` and appraise what comes back with
`secmas.trust.measurer.appraise`. One request per connection: a JSON line
`{"pid": …, "nonce": "<hex>"}`, answered by the signed evidence or `{"error": …}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secmas.trust.keys import KeyFileError, load_private_key, save_private_key
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
from secmas.trust.measurer_probe import Measurer, platform_reference

if TYPE_CHECKING:  # the service itself never reads a manifest (and starts faster without)
    from secmas.trust.manifest import ReferenceManifest

MAX_REQUEST = 4096
MAX_ANSWER = 16 << 20
PARENT_POLL_S = 0.5


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


async def serve(measurer: Measurer, socket: Path, parent: int | None = None) -> None:
    """Answer requests on `socket` until cancelled, or until process `parent` (the IML
    driver that started it) is gone; each measurement runs off the loop."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readline()
            if len(request) <= MAX_REQUEST:
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


@dataclass(frozen=True)
class MeasurerClient:
    """A verifier's handle on a host's measurer."""

    socket: Path
    public_key: Ed25519PublicKey
    timeout: float = 60.0
    """Generous: a loaded 2-core host queues concurrent measurements of big processes;
    a measurer that died is noticed at once (the connection fails)."""

    async def measure(self, pid: int, nonce: bytes) -> SignedEvidence:
        """Signed evidence about process `pid`; MeasurerError when none comes back."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.socket), limit=MAX_ANSWER), self.timeout
            )
        except (OSError, TimeoutError) as exc:
            raise MeasurerError(f"measurer at {self.socket} unreachable: {exc}") from None
        try:
            writer.write(json.dumps({"pid": pid, "nonce": nonce.hex()}).encode() + b"\n")
            await writer.drain()
            answer = await asyncio.wait_for(reader.readline(), self.timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise MeasurerError(f"no answer from the measurer: {exc}") from None
        finally:
            writer.close()
        return _evidence(answer)

    def measure_now(self, pid: int, nonce: bytes) -> SignedEvidence:
        """`measure` for callers without an event loop."""
        return asyncio.run(self.measure(pid, nonce))


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


@dataclass
class HostMeasurer:
    """The measurer process the IML driver started on this host."""

    process: subprocess.Popen[bytes]
    client: MeasurerClient
    private: Path | None = None
    """A directory made for the key, socket and log (removed on `stop`)."""

    @classmethod
    def start(
        cls,
        workdir: Path | None = None,
        name: str = "measurer",
        packages: Sequence[str] = ("secmas",),
    ) -> HostMeasurer:
        """`launch`, then wait until the service answers."""
        measurer = cls.launch(workdir, name, packages)
        measurer.ready()
        return measurer

    @classmethod
    def launch(
        cls,
        workdir: Path | None = None,
        name: str = "measurer",
        packages: Sequence[str] = ("secmas",),
        ahead: int | None = None,
    ) -> HostMeasurer:
        """A fresh key, then the service process, without waiting for it (`ready`).
        Without a `workdir`, its files go to a new private directory (never a run's report
        folder: the key is a secret). `ahead`: a process the service measures once before
        it listens, as IMA measures at load, so that the first check pays for what
        changed since (the files it maps are hashed, their RELRO relocations read)."""
        private = None if workdir is not None else Path(tempfile.mkdtemp(prefix="secmas-measurer-"))
        workdir = workdir or private
        assert workdir is not None
        key = Ed25519PrivateKey.generate()
        key_file = workdir / f"{name}-ed25519.pem"
        save_private_key(key, key_file)
        socket = workdir / f"{name}.sock"
        argv = [sys.executable, "-m", "secmas.trust.measurer_service", "--socket", str(socket)]
        argv += ["--key-file", str(key_file), "--name", name, "--parent", str(os.getpid())]
        for package in packages:
            argv += ["--package", package]
        if ahead is not None:
            argv += ["--measure-ahead", str(ahead)]
        with (workdir / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return cls(process, MeasurerClient(socket, key.public_key()), private)

    def ready(self, timeout: float = 30.0) -> None:
        """Wait until the service listens; MeasurerError when it exited or took longer."""
        socket = self.client.socket
        deadline = time.monotonic() + timeout
        while not socket.exists():
            if self.process.poll() is not None:
                raise MeasurerError(f"measurer exited with status {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise MeasurerError(f"measurer did not listen on {socket} in {timeout:g} s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.private is not None:
            shutil.rmtree(self.private, ignore_errors=True)


@dataclass(frozen=True)
class ExternalVerifier:
    """What a verifier needs to attest a process through the host's measurer: the
    client, the SECaaS-signed platform reference and key, the image's module digests."""

    client: MeasurerClient
    reference: PlatformReference
    secaas_key: Ed25519PublicKey
    modules: Mapping[str, str]
    argv_prefix: tuple[str, ...] = ()
    shared_with_jit: bool = False
    """See `Expectation.shared_with_jit`: only for the run's own process."""

    async def check(self, pid: int) -> MeasurerAppraisal:
        """Challenge the measurer with a fresh nonce about `pid` and appraise its answer."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        try:
            evidence = await self.client.measure(pid, nonce)
        except MeasurerError as exc:
            return MeasurerAppraisal(False, (str(exc),))
        expected = Expectation(nonce, pid, self.modules, self.argv_prefix, self.shared_with_jit)
        return appraise(evidence, self.reference, self.client.public_key, expected, self.secaas_key)


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
    _asked: dict[int, int] = field(default_factory=dict)
    _last: dict[int, MeasurerAppraisal] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        workdir: Path | None,
        secaas: Ed25519PrivateKey,
        manifest: ReferenceManifest,
        packages: Sequence[str] = ("secmas",),
        argv_prefix: tuple[str, ...] = (),
        *,
        shared: bool = False,
        host: HostMeasurer | None = None,
    ) -> ExternalAttestation:
        """Start the host's measurer (or use `host`, launched earlier, once it answers);
        SECaaS signs this host's platform reference. `shared`: the agents live in the
        run's own process (`Expectation.shared_with_jit`)."""
        if host is None:
            host = HostMeasurer.start(workdir, packages=packages)
        external = cls.begin(secaas, manifest, host, argv_prefix, shared=shared)
        external.prepared.result()  # waits for both; raises what went wrong
        return external

    @classmethod
    def begin(
        cls,
        secaas: Ed25519PrivateKey,
        manifest: ReferenceManifest,
        host: HostMeasurer,
        argv_prefix: tuple[str, ...] = (),
        *,
        shared: bool = False,
    ) -> ExternalAttestation:
        """`start` without waiting: SECaaS hashes this host's files for the platform
        reference in a thread of its own while `host` finishes measuring ahead in its
        process, and the caller goes on meanwhile (a secure bring-up begins it after
        wrapping, so that this runs beside steps 5-7); the first check waits for both
        (`prepared`). A measurer that never answers fails that check, naming why."""
        prepared: Future[ExternalVerifier] = Future()

        def prepare() -> None:
            try:
                reference = platform_reference(secaas)  # hashing releases the GIL
                host.ready()
                prepared.set_result(
                    ExternalVerifier(
                        host.client,
                        reference,
                        secaas.public_key(),
                        module_digests(manifest.entries),
                        argv_prefix,
                        shared,
                    )
                )
            except BaseException as exc:  # handed to whoever waits for the verifier
                prepared.set_exception(exc)

        threading.Thread(target=prepare, name="secaas-platform-reference", daemon=True).start()
        return cls(host, prepared)

    async def check(self, agent: str) -> MeasurerAppraisal:
        """Attest `agent`'s process through the measurer (failed when its process is not
        known).

        A process is measured at the same rate whatever number of agents it hosts: one
        that hosts k agents (every agent of an in-process run) is measured on the first of
        every k checks of its agents, and the others in that round take that appraisal,
        pass or fail (they are that process). With one agent per process, every check
        measures."""
        pid = self.pids.get(agent)
        if pid is None:
            appraisal = MeasurerAppraisal(False, (f"no process known for {agent}",))
        else:
            hosted = sum(1 for p in self.pids.values() if p == pid)
            asked = self._asked.get(pid, 0)
            self._asked[pid] = asked + 1
            last = self._last.get(pid)
            if last is None or asked % hosted == 0:
                last = self._last[pid] = await self._measured(pid)
                self.measurements += 1
            appraisal = last
        self.results.append((agent, appraisal))
        return appraisal

    async def _measured(self, pid: int) -> MeasurerAppraisal:
        """A fresh measurement of `pid`, appraised; failed when the measurer never came
        up or the platform reference could not be made."""
        try:
            verifier = await asyncio.wrap_future(self.prepared)
        except (MeasurerError, OSError) as exc:
            return MeasurerAppraisal(False, (f"measurer unavailable: {exc}",))
        return await verifier.check(pid)

    def check_now(self, agent: str) -> MeasurerAppraisal:
        """`check` for a worker thread (a run on a virtual clock waits for it through
        `run_blocking`, as for a ledger call)."""
        return asyncio.run(self.check(agent))

    def report(self) -> dict[str, object]:
        """What the run report says about external measurement."""
        return {
            "measurer_pid": self.host.process.pid,
            "measurer_key": self.host.client.public_key.public_bytes_raw().hex(),
            "checks": len(self.results),
            "measurements": self.measurements,
            "failed": [
                {"agent": agent, "reasons": list(a.reasons[:5])}
                for agent, a in self.results
                if not a.passed
            ],
            "tolerated": sorted({note for _, a in self.results for note in a.notes})[:5],
        }

    def stop(self) -> None:
        self.host.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m secmas.trust.measurer_service",
        description="Serve signed measurements of this host's agent processes.",
    )
    parser.add_argument("--socket", type=Path, required=True, help="Unix socket to listen on")
    parser.add_argument("--key-file", type=Path, required=True, help="Ed25519 PEM signing key")
    parser.add_argument("--name", default="measurer", help="the measurer's name in evidence")
    parser.add_argument(
        "--package", action="append", help="agent package whose files to measure (repeatable)"
    )
    parser.add_argument("--parent", type=int, help="exit when this process is gone")
    parser.add_argument(
        "--measure-ahead",
        type=int,
        metavar="PID",
        help="measure this process once before listening (its files are then kept)",
    )
    args = parser.parse_args(argv)
    try:
        key = load_private_key(args.key_file)
    except KeyFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    measurer = Measurer(args.name, key, tuple(args.package or ("secmas",)))
    if args.measure_ahead is not None:
        with contextlib.suppress(MeasurerError):  # a process gone or unreadable: checks say so
            measurer.measure(args.measure_ahead, bytes(NONCE_BYTES))
    args.socket.unlink(missing_ok=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(measurer, args.socket, args.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
