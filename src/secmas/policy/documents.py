"""Policy documents as a run or `secmas policy check` reads them: an intent file (YAML),
whose intents are translated into SSLAs, or an SSLA document (XML)."""

from __future__ import annotations

from pathlib import Path

from secmas.policy.intents import IntentError, parse_intents
from secmas.policy.ssla import MAX_DOCUMENT, SSLA, SSLAError, from_xml
from secmas.policy.translate import ssla_for


class PolicyInputError(ValueError):
    """A policy document that cannot be read; each problem names the file, the line or
    element and the reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def read_policy(file: Path) -> tuple[list[SSLA], str]:
    """The SSLAs of an intent file (translated) or an SSLA document, and what it held."""
    try:
        with file.open(encoding="utf-8") as handle:
            text = handle.read(MAX_DOCUMENT + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyInputError([f"{file}: cannot read file: {exc}"]) from None
    if text.lstrip("\ufeff \t\r\n").startswith("<"):
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


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
