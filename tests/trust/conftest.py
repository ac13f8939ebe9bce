"""Fixtures for SECaaS: a signing key, a copy of a real ELF binary, a small agent package."""

from __future__ import annotations

import importlib
import itertools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# Decorators, descriptors and generated methods that must measure alike from files and live.
CORE = """\
from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import NamedTuple, overload

from pydantic import BaseModel, field_validator


def traced(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


@traced
def act(x: int) -> int:
    return x + 1


def f(x):
    return x * 2


def g(x):
    return x * 3


@overload
def pick(x: int) -> int: ...
@overload
def pick(x: str) -> str: ...
def pick(x):
    return x


@functools.lru_cache(maxsize=8)
def cached(n: int) -> int:
    return sum(i * i for i in range(n) if i in {1, 2, 3})


async def fetch(n: int) -> int:
    return n


class Colour(enum.Enum):
    RED = 1

    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 0

    def norm(self) -> int:
        return abs(self.x) + abs(self.y)


class Pair(NamedTuple):
    a: int
    b: int

    def total(self) -> int:
        return self.a + self.b


class Agent:
    class Config:
        def setting(self) -> str:
            return "on"

    def __init__(self, level: int) -> None:
        self._level = level

    @property
    def level(self) -> int:
        return self._level

    @level.setter
    def level(self, value: int) -> None:
        self._level = value

    @functools.cached_property
    def heavy(self) -> int:
        return self._level * 2

    @staticmethod
    def make() -> Agent:
        return Agent(1)

    @classmethod
    def build(cls, n: int) -> Agent:
        return cls(n)

    @traced
    def run(self) -> int:
        return self.level + (lambda q: q)(1)


class Model(BaseModel):
    a: int

    @field_validator("a")
    @classmethod
    def _positive(cls, v: int) -> int:
        return abs(v)
"""

TOOL = """\
def helper(a, b=2, *args, c, **kw):
    def inner():
        return a + b

    return inner
"""

_names = itertools.count()


@dataclass(frozen=True)
class AgentPackage:
    """A package written under tmp_path with a name no other test uses."""

    name: str
    path: Path

    def load(self) -> dict[str, ModuleType]:
        """Import every module (so the live measurement finds them all)."""
        names = [self.name, f"{self.name}.core", f"{self.name}.sub", f"{self.name}.sub.tool"]
        return {name: importlib.import_module(name) for name in names}


@pytest.fixture
def agent_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AgentPackage]:
    name = f"secaas_agent_{next(_names)}"
    root = tmp_path / "site" / name
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text('"""An agent."""\nVERSION = "1.0"\n')
    (root / "core.py").write_text(CORE)
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "tool.py").write_text(TOOL)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield AgentPackage(name, root)
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


@pytest.fixture(scope="session")
def signer() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def flip() -> Callable[[Path, int], None]:
    """Invert one byte of a file in place."""

    def flip_byte(path: Path, offset: int) -> None:
        data = bytearray(path.read_bytes())
        data[offset] ^= 0xFF
        path.write_bytes(bytes(data))

    return flip_byte
