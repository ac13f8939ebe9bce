"""The reference manifest: what SECaaS measured when it wrapped an agent, signed.

A manifest names the image and version, lists the measured parts (ELF sections, Python
modules and `module:qualname`s, an OCI image's files, `secmas.trust.container`, or a plug-in
distribution's files, `secmas.trust.distribution`) with
their SHA-256 digests and root, carries the ELF hardening report, and is signed with the
SECaaS Ed25519 key over a canonical JSON of every other field (the signer's public key
included), so no field can change unnoticed.

A Python manifest also names the interpreter build that made it (`InterpreterBuild`, issue
37 item 6): its code digests hash the bytecode that interpreter compiled (`co_code`), which
another micro version or another compiler's build compiles differently (CPython 3.11.2
and 3.11.7 give different roots). A reference is checked only by the build that made it
(`interpreter_mismatch`), and a mismatch says so, naming both builds, instead of listing
every function as changed. Manifests made before the build was recorded bind none.
"""

from __future__ import annotations

import importlib.util
import json
import platform
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from secmas.transport.nesting import too_deep
from secmas.trust.hardening import HardeningReport
from secmas.trust.keys import public_key_hex

FORMAT_NAME = "secmas.manifest"
FORMAT_VERSION = 1
FORMAT = f"{FORMAT_NAME}/{FORMAT_VERSION}"

MAX_DEPTH = 32  # a manifest nests 3 deep (hardening → fortified)
# Strings whole (brackets inside them do not count), or one bracket.

HexDigest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ManifestError(Exception):
    """A manifest that cannot be read, parsed, validated or written."""


class InterpreterBuild(BaseModel):
    """The interpreter whose bytecode a Python manifest's digests hash: implementation,
    full version, build number and date, compiler, and the bytecode's magic number."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    implementation: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=64)
    build: str = Field(min_length=1, max_length=128)
    compiler: str = Field(min_length=1, max_length=256)
    magic: str = Field(pattern=r"^[0-9a-f]{8}$")

    @classmethod
    def running(cls) -> InterpreterBuild:
        """This process's interpreter (`sys.version`, `platform.python_build()`)."""
        number, date = platform.python_build()
        return cls(
            implementation=platform.python_implementation(),
            version=platform.python_version(),
            build=f"{number}, {date}",
            compiler=platform.python_compiler() or "unknown compiler",
            magic=importlib.util.MAGIC_NUMBER.hex(),
        )

    def __str__(self) -> str:
        """As `sys.version` spells it, with the bytecode's magic number."""
        return (
            f"{self.implementation} {self.version} ({self.build}) [{self.compiler}],"
            f" bytecode {self.magic}"
        )


def interpreter_mismatch(
    manifest: ReferenceManifest, running: InterpreterBuild | None = None
) -> str | None:
    """Why `running` (default: this interpreter) cannot check `manifest`'s code digests,
    naming both builds; None when it is the build that made them (or none is recorded)."""
    running = running or InterpreterBuild.running()
    made = manifest.interpreter
    if made is None or made == running:
        return None
    return (
        f"interpreter build mismatch: the reference {manifest.image} {manifest.version} was"
        f" made by {made}; this is {running} (code digests hash the bytecode the"
        " interpreter compiles: run the build that made it, or wrap the release with this one)"
    )


class ReferenceManifest(BaseModel):
    """A signed reference measurement of one image version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["secmas.manifest/1"] = FORMAT
    kind: Literal["elf", "python", "oci", "distribution"]
    """What was measured: an ELF file's sections, a Python package's modules and functions,
    an OCI image's files, or a plug-in distribution's files (`secmas.trust.distribution`)."""
    image: str = Field(min_length=1)
    version: str = Field(min_length=1)
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    entries: dict[str, HexDigest]
    root: HexDigest
    hardening: HardeningReport | None = None
    interpreter: InterpreterBuild | None = None
    """The build whose bytecode `entries` hash (Python manifests; module docstring)."""
    public_key: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    signature: str | None = Field(default=None, pattern=r"^[0-9a-f]{128}$")

    @field_validator("created")
    @classmethod
    def _utc_iso(cls, value: str) -> str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time") from None
        if moment.utcoffset() != timedelta(0):
            raise ValueError(f"{value!r} is not in UTC")
        return value

    @model_validator(mode="after")
    def _hardening_for_elf_only(self) -> ReferenceManifest:
        if (self.kind == "elf") != (self.hardening is not None):
            raise ValueError("an ELF manifest needs a hardening report, a Python one has none")
        if self.interpreter is not None and self.kind != "python":
            raise ValueError("only a Python manifest names an interpreter build")
        return self

    def signed_bytes(self) -> bytes:
        """Canonical JSON of every field but the signature: sorted keys, no spaces, ASCII.
        A manifest without an interpreter build signs as one made before the field was."""
        unbound = {"interpreter"} if self.interpreter is None else set()
        data = self.model_dump(mode="json", exclude={"signature", *unbound})
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("ascii")

    def save(self, path: Path) -> None:
        try:
            path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise ManifestError(f"{path}: cannot write: {exc.strerror or exc}") from exc

    @classmethod
    def load(cls, path: Path) -> ReferenceManifest:
        """Read a manifest file; ManifestError names the file and the field at fault."""
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise ManifestError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ManifestError(f"{path}: not UTF-8 text: {exc.reason}") from exc
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, source: str = "<manifest>") -> ReferenceManifest:
        """Validate manifest JSON; `source` names it in error messages."""
        if too_deep(text, MAX_DEPTH):
            raise ManifestError(f"{source}: JSON nested more than {MAX_DEPTH} levels deep")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{source}: not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ManifestError(f"{source}: expected a JSON object, got {type(data).__name__}")
        _check_format(data.get("format"), source)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"field {_field(e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ManifestError(f"{source}: {problems}") from None


def _field(loc: tuple[int | str, ...]) -> str:
    """`entries['.text']` style rendering of a pydantic error location."""
    if not loc:
        return "(top level)"
    return str(loc[0]) + "".join(f"[{part!r}]" for part in loc[1:])


def _check_format(value: object, source: str) -> None:
    """Tell "not a manifest" apart from "a manifest of another version"."""
    if value is None:
        raise ManifestError(f"{source}: field format: missing, so not a secmas manifest")
    if not isinstance(value, str) or not value.startswith(f"{FORMAT_NAME}/"):
        raise ManifestError(
            f"{source}: field format: {value!r} is not a secmas manifest (expected {FORMAT!r})"
        )
    if value != FORMAT:
        raise ManifestError(
            f"{source}: field format: unsupported manifest version {value.partition('/')[2]!r}"
            f" (this secmas reads {FORMAT_VERSION})"
        )


def sign(manifest: ReferenceManifest, key: Ed25519PrivateKey) -> ReferenceManifest:
    """A copy carrying `key`'s public key and its signature over everything else."""
    unsigned = manifest.model_copy(
        update={"public_key": public_key_hex(key.public_key()), "signature": None}
    )
    return unsigned.model_copy(update={"signature": key.sign(unsigned.signed_bytes()).hex()})


def verify_signature(
    manifest: ReferenceManifest, trusted_key: Ed25519PublicKey | None = None
) -> bool:
    """Whether the manifest is signed and unchanged since, by `trusted_key` when given.

    Without a trusted key this only proves integrity under the key the manifest names;
    who may sign is for the caller to decide.
    """
    if manifest.public_key is None or manifest.signature is None:
        return False
    if trusted_key is not None and public_key_hex(trusted_key) != manifest.public_key:
        return False
    try:
        signer = Ed25519PublicKey.from_public_bytes(bytes.fromhex(manifest.public_key))
        signer.verify(bytes.fromhex(manifest.signature), manifest.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True
