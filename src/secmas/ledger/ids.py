"""bytes32 identifiers of pipelines and agents: the UTF-8 name, right-padded with zeros.

Names are readable on-chain and in block explorers; a name must fit in 32 bytes and hold no
NUL character, so that `id_name` gives the name back.
"""

from __future__ import annotations

ID_SIZE = 32


def _encode(name: str) -> bytes:
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        raw = b""
    if not raw or len(raw) > ID_SIZE or b"\x00" in raw:
        raise ValueError(f"an id name is 1 to {ID_SIZE} UTF-8 bytes without NUL: {name!r}")
    return raw.ljust(ID_SIZE, b"\x00")


def pipeline_id(name: str) -> bytes:
    """The bytes32 id of the pipeline called `name`."""
    return _encode(name)


def agent_id(name: str) -> bytes:
    """The bytes32 id of the agent called `name`."""
    return _encode(name)


def id_name(value: bytes) -> str:
    """The name inside a bytes32 id, or its 0x-hex form when it holds no UTF-8 name."""
    if len(value) != ID_SIZE:
        raise ValueError(f"an id is {ID_SIZE} bytes, got {len(value)}")
    raw = value.rstrip(b"\x00")
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        name = ""
    if not name or "\x00" in name:
        return "0x" + value.hex()
    return name
