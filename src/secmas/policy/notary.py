"""The audit notary: signs a log's anchors with a key the run that writes the log never loads,
so that a log rewritten after the run together with its anchors file no longer verifies.

Anchors on a JSON-RPC ledger outlive the run and cannot be taken back; the in-process EVM of
a default run is gone when the run ends, and the anchors file beside the log can be rewritten
along with it. The notary closes that gap without a network (RFC 3161 needs a reachable TSA):

* Its Ed25519 key lives at `$SECMAS_HOME/audit-notary-ed25519.pem` (made on first use, mode
  0600; refused when it is a link, another user's, or readable or writable by others), its
  public key beside it in `audit-notary-ed25519.pub` (hex), which verifiers pin.
* A run starts the notary as a separate process (`python -m secmas.policy.notary`), which
  loads the key; the run sends it (log id, chain, contract, count, head, log time, final)
  over a pipe and gets back the signing time and the signature over the canonical statement
  (`secmas.policy.audit.statement_bytes`). The notary signs a log's counts only upwards and
  nothing after the log's final (sealing) anchor.
* `secmas audit verify` checks each anchor in the file against the pinned public key (never
  a key carried in the file) and requires the last one to seal the log: a forged anchor, a
  stripped signature, a log cut short or continued after the seal all fail.

What it guarantees against whom: someone who can rewrite the run folder after the run but
cannot act as the notary's user (another account, a copy archived or shared, a backup
restored) cannot make a rewritten log verify. The run never holds the key, so it does not
leak with the run's memory, core dumps or reports. It does not hold against code running
as that user (a compromised run process included): it can read the key file, or start a
notary of its own and have anything signed. The separation is the operating system's file
permissions, not a second machine. Signed anchors show that a log existed in that form when
the notary signed, not that what it records happened.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from secmas.policy.audit import Anchor, AnchorFile, Notarisation, statement_bytes
from secmas.trust.keys import (
    KeyFileError,
    load_public_key,
    public_key_hex,
    secmas_home,
    signing_key,
)
from secmas.trust.keys import (
    check_private as check_owned,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )


NOTARY_KEY_FILE = "audit-notary-ed25519.pem"
NOTARY_PUBLIC_FILE = "audit-notary-ed25519.pub"
START_TIMEOUT_S = 20.0
"""Until the notary has loaded its key (an interpreter start and `cryptography`)."""
SIGN_TIMEOUT_S = 5.0
REAP_TIMEOUT_S = 5.0
"""After its input closed, until a notary that has not exited is killed."""


class NotaryError(Exception):
    """A notary key that cannot be used, or a notary that does not answer or refuses."""


def notary_key_path() -> Path:
    return secmas_home() / NOTARY_KEY_FILE


def notary_public_path() -> Path:
    return secmas_home() / NOTARY_PUBLIC_FILE


def check_private(path: Path, *, secret: bool) -> None:
    """`secmas.trust.keys.check_private`, its refusal a NotaryError."""
    try:
        check_owned(path, secret=secret)
    except OSError as exc:
        raise NotaryError(str(exc)) from None


def check_key_file(path: Path) -> None:
    """The notary key file and its folder are the user's alone (see `check_private`)."""
    check_private(path.parent, secret=False)
    check_private(path, secret=True)


def notary_key(path: Path) -> Ed25519PrivateKey:
    """The notary's key at `path`, made there with its public key beside it if none is yet."""
    check_key_file(path)
    try:
        key = signing_key(path)
    except KeyFileError as exc:
        raise NotaryError(str(exc)) from None
    check_key_file(path)  # as made now, or as a concurrent first use made it
    public = path.with_suffix(".pub")
    if not public.exists():
        partial = public.with_name(f"{public.name}.{os.getpid()}.partial")
        partial.write_text(public_key_hex(key.public_key()) + "\n", encoding="ascii")
        partial.replace(public)
    return key


def pinned_key(spec: str | None) -> Ed25519PublicKey:
    """The notary public key a verifier trusts: `spec` (64 hex digits or a PEM file), or the
    user's own notary's (`$SECMAS_HOME/audit-notary-ed25519.pub`, checked as private)."""
    if spec is not None:
        try:
            return load_public_key(spec)
        except KeyFileError as exc:
            raise NotaryError(str(exc)) from None
    path = notary_public_path()
    check_private(path.parent, secret=False)
    check_private(path, secret=False)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise NotaryError(
            f"no notary public key {path} (no run of yours was notarised here): --trusted-key KEY "
            "names the key of the notary that signed the anchors (64 hex digits or a PEM file)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NotaryError(f"{path}: cannot read: {exc}") from None
    try:
        return load_public_key(text)
    except KeyFileError:
        raise NotaryError(f"{path}: not 64 hex digits of an Ed25519 public key") from None


@dataclass(frozen=True, slots=True)
class NotarisedPoints:
    """What the signed anchors of a file prove: their (count, head) pairs, the count the
    final anchor sealed (None when none did), and how many unsigned anchors were left out."""

    points: list[tuple[int, str]]
    sealed: int | None
    unsigned: int


def check_anchors(anchors: AnchorFile, key: Ed25519PublicKey) -> NotarisedPoints:
    """The anchors of `anchors` that `key` signed; NotaryError naming the first anchor whose
    signature does not hold, or why the log is not sealed. Unsigned anchors (the notary
    failed while the ledger did not) prove nothing and are left out."""
    from cryptography.exceptions import InvalidSignature

    points: list[tuple[int, str]] = []
    sealed: int | None = None
    unsigned = 0
    for index, anchor in enumerate(anchors.anchors):
        where = f"anchors[{index}] (count {anchor.count})"
        if anchor.notary is None:
            unsigned += 1
            continue
        if sealed is not None:
            raise NotaryError(f"{where}: signed after the anchor that sealed the log at {sealed}")
        try:
            key.verify(bytes.fromhex(anchor.notary.signature), statement_bytes(anchors, anchor))
        except InvalidSignature:
            raise NotaryError(
                f"{where}: the notary's signature does not hold: the anchor, or the file's "
                "chain, contract or log id, was changed, or another key signed it"
                + _other_key(anchors, key)
            ) from None
        points.append((anchor.count, anchor.head))
        if anchor.notary.final:
            sealed = anchor.count
    if sealed is None:
        proven = f" (signed anchors cover {points[-1][0]} entries)" if points else ""
        raise NotaryError(
            "the notary never sealed the log: the run did not close it, or its last anchors "
            f"were removed{proven}"
        )
    return NotarisedPoints(points, sealed, unsigned)


def _other_key(anchors: AnchorFile, key: Ed25519PublicKey) -> str:
    pinned = public_key_hex(key)
    if anchors.notary_key is not None and anchors.notary_key != pinned:
        return f" (the file names notary key {anchors.notary_key}, the pinned one is {pinned})"
    return ""


class NotaryProcess:
    """The run's side of the notary: the process it started, asked over a pipe (one JSON line
    each way per anchor). Thread-safe; `close` (or the run's exit, closing the pipe) ends it."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.key: str | None = None
        """The notary's public key (hex), once it answered."""
        self._failed: NotaryError | None = None
        self._lock = threading.Lock()

    @classmethod
    def start(cls, key_file: Path | None = None) -> NotaryProcess:
        """Starts the notary on `key_file` (default: the user's) without waiting for it;
        NotaryError at once when the key file is not the user's alone."""
        path = key_file or notary_key_path()
        check_key_file(path)
        argv = [sys.executable, "-m", "secmas.policy.notary", "--key", str(path)]
        process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        return cls(process)

    def sign(
        self,
        log_id: bytes,
        chain: str,
        contract: str,
        count: int,
        head: str,
        time: float,
        final: bool,
    ) -> Notarisation:
        """The notary's signature over one anchor; NotaryError when it refuses or is gone."""
        request = {
            "log_id": log_id.hex(),
            "chain": chain,
            "contract": contract,
            "count": count,
            "head": head,
            "time": time,
            "final": final,
        }
        with self._lock:
            if self._failed is not None:
                raise self._failed
            if self.key is None:
                try:
                    self.key = str(self._answer(START_TIMEOUT_S)["key"])
                except NotaryError as exc:
                    self._failed = exc
                    raise
            stdin = self.process.stdin
            if stdin is None or stdin.closed:
                raise NotaryError("the notary was closed")
            try:
                stdin.write(json.dumps(request).encode("ascii") + b"\n")
                stdin.flush()
            except OSError:
                raise NotaryError(f"the notary is gone{self._stderr()}") from None
            answer = self._answer(SIGN_TIMEOUT_S)
        signed_at, signature = answer.get("signed_at"), answer.get("signature")
        if not (isinstance(signed_at, str) and isinstance(signature, str)):
            raise NotaryError(f"the notary answered {answer!r}, not a signature")
        return Notarisation(signed_at, final, signature)

    def _answer(self, timeout: float) -> dict[str, Any]:
        stdout = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready:
            raise NotaryError(f"the notary did not answer in {timeout:g} s")
        line = stdout.readline()
        if not line:
            raise NotaryError(f"the notary exited{self._stderr()}")
        try:
            answer = json.loads(line)
        except ValueError:
            raise NotaryError(f"the notary answered {line[:80]!r}, not JSON") from None
        if not isinstance(answer, dict):
            raise NotaryError(f"the notary answered {answer!r}, not an object")
        if "error" in answer:
            raise NotaryError(f"the notary refused: {answer['error']}")
        return answer

    def _stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        text = self.process.stderr.read().decode("utf-8", "replace").strip()
        return f": {text.splitlines()[-1]}" if text else ""

    def close(self) -> None:
        """Ends the notary: it exits when its input closes, reaped on a thread of its own
        (an interpreter's exit takes tens of milliseconds that the run need not wait)."""
        with self._lock:
            if self.process.stdin is None or self.process.stdin.closed:
                return
            with contextlib.suppress(OSError):  # a request still buffered for a dead notary
                self.process.stdin.close()
        threading.Thread(target=self._reap, name="notary-reaper", daemon=True).start()

    def _reap(self) -> None:
        try:
            self.process.wait(REAP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@dataclass
class _Log:
    """What the notary signed of one log: the last count and whether it was sealed."""

    count: int = 0
    head: str = ""
    sealed: bool = False


def _sign(key: Ed25519PrivateKey, logs: dict[str, _Log], request: dict[str, Any]) -> dict[str, Any]:
    """The answer to one request: the signing time and signature, or why not."""
    count, head, final = request["count"], request["head"], request["final"]
    if not isinstance(count, int) or not isinstance(final, bool) or not isinstance(head, str):
        raise ValueError("count, head and final must be an integer, a string and a boolean")
    state = logs.setdefault(request["log_id"], _Log())
    if state.sealed:
        raise ValueError(f"the log was sealed at {state.count} entries")
    if count < state.count or (count == state.count and not (final and head == state.head)):
        raise ValueError(f"count {count} does not grow past {state.count}")
    signed_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    notarisation = Notarisation(signed_at, final, "")
    anchor = Anchor(count, head, float(request["time"]), "", 0, notarisation)
    source = AnchorFile(
        request["chain"], request["contract"], bytes.fromhex(request["log_id"]), (anchor,)
    )
    signature = key.sign(statement_bytes(source, anchor)).hex()
    state.count, state.head, state.sealed = count, head, final
    return {"signed_at": signed_at, "signature": signature}


def serve(key: Ed25519PrivateKey, requests: IO[bytes], answers: IO[bytes]) -> None:
    """Answers one JSON line per request line until `requests` closes."""
    logs: dict[str, _Log] = {}
    for line in requests:
        try:
            answer = _sign(key, logs, json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer).encode("ascii") + b"\n")
        answers.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The audit notary (started by a run).")
    parser.add_argument("--key", type=Path, required=True, help="the notary's Ed25519 PEM key")
    args = parser.parse_args(argv)
    out = sys.stdout.buffer
    try:
        key = notary_key(args.key)
    except (NotaryError, OSError) as exc:
        out.write(json.dumps({"error": str(exc)}).encode("ascii") + b"\n")
        return 2
    out.write(json.dumps({"key": public_key_hex(key.public_key())}).encode("ascii") + b"\n")
    out.flush()
    serve(key, sys.stdin.buffer, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
