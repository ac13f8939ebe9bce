"""Policy documents as a run or `secmas policy check` reads them: an intent file (YAML),
whose intents are translated into SSLAs, or an SSLA document (XML)."""

from __future__ import annotations

import codecs
from pathlib import Path

from secmas.policy.intents import IntentError, parse_intents
from secmas.policy.ssla import MAX_DOCUMENT, SSLA, SSLAError, from_xml
from secmas.policy.translate import ssla_for

_BLANK = "\ufeff \t\r\n"
"""What may stand before a document's first character (a UTF-8 byte-order mark included)."""
_MAX_BYTES = 4 * (MAX_DOCUMENT + 1)
"""Bytes read of a policy file: enough for `MAX_DOCUMENT` + 1 characters of UTF-8 (each at
most 4 bytes)."""
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
"""Byte-order marks of encodings a policy file may have been saved in by mistake; UTF-32's
first, as UTF-16 LE's is the start of UTF-32 LE's."""


class PolicyInputError(ValueError):
    """A policy document that cannot be read; each problem names the file, the line or
    element and the reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def read_policy(file: Path) -> tuple[list[SSLA], str]:
    """The SSLAs of an intent file (translated) or an SSLA document, and what it held."""
    text = _read_text(file)
    if text.lstrip(_BLANK).startswith("<"):
        try:
            ssla = from_xml(text, source=str(file))
        except SSLAError as exc:
            raise PolicyInputError([str(exc)]) from None
        return [ssla], f"an SSLA with {_count(len(ssla.terms), 'guarantee term')}"
    try:
        intents = parse_intents(text, source=str(file)).intents
    except IntentError as exc:
        raise PolicyInputError([str(problem) for problem in exc.problems]) from None
    sslas = [ssla_for(intent) for intent in intents]
    return sslas, f"{_count(len(intents), 'intent')} → {_count(len(sslas), 'SSLA')}"


def _read_text(file: Path) -> str:
    """The text of a policy file, read as text mode reads it (newlines as `\\n`), at most
    `MAX_DOCUMENT` + 1 characters (enough for the readers to refuse a larger file).
    PolicyInputError when it cannot be read, is empty, or is not UTF-8: then the readers
    would say something beside the point (an empty SSLA document read as intents, a
    codec's error for a file saved as UTF-16), so the message says what the file is."""
    try:
        with file.open("rb") as handle:
            data = handle.read(_MAX_BYTES)
    except OSError as exc:
        raise PolicyInputError([f"{file}: cannot read file: {exc}"]) from None
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data, final=len(data) < _MAX_BYTES)
    except UnicodeDecodeError as exc:
        raise PolicyInputError([f"{file}: {_not_utf8(data, exc.start)}"]) from None
    if "\0" in text:
        raise PolicyInputError([f"{file}: {_not_utf8(data, data.index(0))}"])
    if not text.strip(_BLANK):
        empty = "the file is empty" if not text.strip("\ufeff") else "it holds only white space"
        raise PolicyInputError([f"{file}: {empty}"])
    return text.replace("\r\n", "\n").replace("\r", "\n")[: MAX_DOCUMENT + 1]


def _not_utf8(data: bytes, offset: int) -> str:
    """Why `data` is not UTF-8 text: a byte-order mark of another encoding, else the
    first byte that is not UTF-8 (a NUL is, but no text file holds one), at `offset`."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return f"not UTF-8 text (it starts with a {encoding} byte-order mark): save it as UTF-8"
    if data[offset] == 0:
        why = f"a NUL byte at offset {offset}: UTF-16 or UTF-32 without a byte-order mark?"
    else:
        why = f"byte 0x{data[offset]:02x} at offset {offset}"
    return f"not UTF-8 text ({why}): save it as UTF-8"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
