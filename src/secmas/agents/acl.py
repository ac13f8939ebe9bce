"""FIPA-ACL messages, the agents' message protocol Prot (Definition 5 of `003_…`).

NFV-A (Definition 7) is built on the FIPA Contract Net: CFP, then PROPOSE or REFUSE, then
ACCEPT_PROPOSAL or REJECT_PROPOSAL, then INFORM_DONE or FAILURE (Section 3.3.1). Messages
travel as compact JSON; every frame read from the bus is untrusted, so `decode` checks it
strictly and turns anything wrong into `MalformedMessage` naming the field at fault.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from secmas.transport.nesting import too_deep

MAX_FRAME = 1 << 20
MAX_DEPTH = 32  # payloads nest a few levels; deeper JSON is refused before parsing
"""Largest encoded message, in bytes (1 MiB)."""


class MalformedMessage(ValueError):
    """A frame that is not a valid ACL message; `field` names the culprit."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class Performative(StrEnum):
    """FIPA communicative acts used by the agents (FIPA SC00037 names)."""

    CFP = "cfp"
    PROPOSE = "propose"
    REFUSE = "refuse"
    ACCEPT_PROPOSAL = "accept-proposal"
    REJECT_PROPOSAL = "reject-proposal"
    INFORM = "inform"
    INFORM_DONE = "inform-done"
    FAILURE = "failure"
    REQUEST = "request"
    AGREE = "agree"
    NOT_UNDERSTOOD = "not-understood"
    CANCEL = "cancel"
    CONFIRM = "confirm"
    """The initiator confirms a winner's progress report (its lease holds) or its end."""


def _finite(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _plain(message: ACLMessage) -> bool:
    """The common case in one pass: names are non-empty `str`, the content a `dict`, no
    optional field set to anything but a non-empty `str`, `reply_by` a finite float or
    None. Anything else takes `__post_init__`'s field-by-field checks, which name it."""
    receivers = message.receivers
    if type(receivers) is not tuple or not receivers or type(message.content) is not dict:
        return False
    for name in (message.sender, message.conversation_id, *receivers):
        if type(name) is not str or not name:
            return False
    for value in (message.reply_with, message.in_reply_to, message.protocol, message.ontology):
        if value is not None and (type(value) is not str or not value):
            return False
    reply_by = message.reply_by
    return reply_by is None or (type(reply_by) is float and math.isfinite(reply_by))


def _text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise MalformedMessage(name, f"expected a non-empty string, got {_kind(value)}")


@dataclass(frozen=True, slots=True)
class ACLMessage:
    """One FIPA-ACL message. `reply_by` is a deadline in seconds on the run's clock."""

    performative: Performative
    sender: str
    receivers: tuple[str, ...]
    conversation_id: str
    content: dict[str, Any] = field(default_factory=dict)
    reply_with: str | None = None
    in_reply_to: str | None = None
    protocol: str | None = None
    reply_by: float | None = None
    ontology: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.receivers, list):
            object.__setattr__(self, "receivers", tuple(self.receivers))
        if not isinstance(self.performative, Performative):
            known = (
                _PERFORMATIVES.get(self.performative)
                if isinstance(self.performative, str)
                else None
            )
            if known is None:
                raise MalformedMessage(
                    "performative", f"unknown performative {reprlib.repr(self.performative)}"
                )
            object.__setattr__(self, "performative", known)
        if _plain(self):
            return
        _text("sender", self.sender)
        if not isinstance(self.receivers, tuple) or not self.receivers:
            raise MalformedMessage("receivers", "expected a non-empty list of agent names")
        for receiver in self.receivers:
            _text("receivers", receiver)
        _text("conversation_id", self.conversation_id)
        if not isinstance(self.content, dict):
            raise MalformedMessage("content", f"expected an object, got {_kind(self.content)}")
        for value, name in (
            (self.reply_with, "reply_with"),
            (self.in_reply_to, "in_reply_to"),
            (self.protocol, "protocol"),
            (self.ontology, "ontology"),
        ):
            if value is not None:
                _text(name, value)
        if self.reply_by is not None and not _finite(self.reply_by):
            shown = reprlib.repr(self.reply_by)
            raise MalformedMessage("reply_by", f"expected a finite number, got {shown}")

    def encode(self) -> bytes:
        """Compact JSON in UTF-8 (ASCII escapes), fields left out when None or empty."""
        frame = {
            "performative": self.performative.value,
            "sender": self.sender,
            "receivers": self.receivers,
            **self._rest(),
        }
        return _sized(_json(frame).encode())

    def frames(self) -> Iterator[tuple[str, bytes]]:
        """(receiver, frame) for each receiver: the frame `encode` gives for a copy of
        this message naming that receiver alone. The rest is encoded once, not once per
        receiver: a call for proposals to 100 agents carries the same goal 100 times."""
        head = _json({"performative": self.performative.value, "sender": self.sender})
        before = f'{head[:-1]},"receivers":'.encode()
        after = f",{_json(self._rest())[1:]}".encode()  # it holds conversation_id at least
        for receiver in self.receivers:
            yield receiver, _sized(before + _json([receiver]).encode() + after)

    def _rest(self) -> dict[str, Any]:
        """The fields after `receivers`, in order, less the empty content and None ones."""
        rest: dict[str, Any] = {"conversation_id": self.conversation_id}
        if self.content:
            rest["content"] = self.content
        for name, value in (
            ("reply_with", self.reply_with),
            ("in_reply_to", self.in_reply_to),
            ("protocol", self.protocol),
            ("reply_by", self.reply_by),
            ("ontology", self.ontology),
        ):
            if value is not None:
                rest[name] = value
        return rest

    @classmethod
    def decode(cls, data: bytes) -> ACLMessage:
        """Parse and validate a frame; any problem raises MalformedMessage."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedMessage("frame", f"expected bytes, got {_kind(data)}")
        if len(data) > MAX_FRAME:
            raise MalformedMessage("frame", f"{len(data)} bytes exceeds {MAX_FRAME}")
        try:
            text = bytes(data).decode("utf-8")
            if too_deep(text, MAX_DEPTH):
                raise MalformedMessage("frame", f"JSON nested more than {MAX_DEPTH} levels deep")
            frame = _DECODER.decode(text)
        except MalformedMessage:
            raise
        except UnicodeDecodeError as exc:
            raise MalformedMessage("frame", f"not UTF-8: {exc.reason}") from None
        except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
            raise MalformedMessage("frame", f"not JSON: {exc}") from None
        if not isinstance(frame, dict):
            raise MalformedMessage("frame", f"expected a JSON object, got {_kind(frame)}")
        unknown = frame.keys() - _FIELDS
        if unknown:
            raise MalformedMessage(min(unknown), "unknown field")
        for name in _REQUIRED:
            if name not in frame:
                raise MalformedMessage(name, "missing")
        performative = frame["performative"]
        if not isinstance(performative, str):
            raise MalformedMessage("performative", f"expected a string, got {_kind(performative)}")
        receivers = frame["receivers"]
        if not isinstance(receivers, list):
            raise MalformedMessage("receivers", f"expected a list, got {_kind(receivers)}")
        frame["receivers"] = tuple(receivers)
        return cls(**frame)

    def reply(
        self,
        performative: Performative,
        content: dict[str, Any] | None = None,
        *,
        sender: str | None = None,
        reply_with: str | None = None,
        reply_by: float | None = None,
    ) -> ACLMessage:
        """The answer to this message: same conversation, protocol and ontology, sent to
        the sender, with in_reply_to echoing reply_with. The replier defaults to the only
        receiver; name it when the message went to several."""
        if sender is None:
            if len(self.receivers) != 1:
                raise ValueError("reply to a message with several receivers: name the sender")
            sender = self.receivers[0]
        return ACLMessage(
            performative,
            sender,
            (self.sender,),
            self.conversation_id,
            {} if content is None else content,
            reply_with=reply_with,
            in_reply_to=self.reply_with,
            protocol=self.protocol,
            reply_by=reply_by,
            ontology=self.ontology,
        )


_PERFORMATIVES = {p.value: p for p in Performative}
"""Performatives by FIPA name: a dict lookup, where `Performative(name)` is an Enum call."""
_FIELDS = frozenset(spec.name for spec in fields(ACLMessage))
_REQUIRED = ("performative", "sender", "receivers", "conversation_id")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Reject duplicate keys: two readers of one frame must never see different values."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedMessage("frame", f"duplicate key {key!r}")
            seen.add(key)
    return obj


def _no_constant(name: str) -> None:
    raise MalformedMessage("frame", f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant)
"""One strict decoder for every frame (`json.loads` with hooks builds a new one per call)."""
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _json(value: object) -> str:
    """Compact JSON, as `json.dumps(value, separators=(",", ":"), allow_nan=False)`."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise MalformedMessage("content", f"not JSON-serialisable: {exc}") from None


def _sized(data: bytes) -> bytes:
    if len(data) > MAX_FRAME:
        raise MalformedMessage("frame", f"{len(data)} bytes exceeds {MAX_FRAME}")
    return data
