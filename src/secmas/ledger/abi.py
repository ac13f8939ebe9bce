"""A small ABI codec over eth_abi for the ledger's contracts.

web3's contract objects cost ~3 ms per call in argument checks and middleware; encoding with
precomputed selectors and eth_abi halves a view call, which matters on the attestation hot
path. Addresses come back checksummed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import eth_abi
from eth_abi.exceptions import DecodingError
from eth_typing import ChecksumAddress
from eth_utils import (
    collapse_if_tuple,
    event_abi_to_log_topic,
    function_abi_to_4byte_selector,
    to_checksum_address,
)

from secmas.ledger.artifacts import load_artifact
from secmas.ledger.node import RawLog

_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """A decoded contract event, with where it was logged."""

    contract: str
    name: str
    args: Mapping[str, Any]
    block: int
    tx_hash: str
    log_index: int


def _types(params: Sequence[Mapping[str, Any]]) -> list[str]:
    return [collapse_if_tuple(dict(p)) for p in params]


@lru_cache(maxsize=1 << 16)
def _checksum(address: str) -> ChecksumAddress:
    """EIP-55 costs a Keccak hash per address, and the same addresses come back in every
    call: a pipeline's members, read by each of its agents."""
    return to_checksum_address(address)


def _checksummed(param: Mapping[str, Any], value: Any) -> Any:
    """`value` decoded for `param`, with every address (also inside tuples/arrays) checksummed."""
    kind: str = param["type"]
    if kind.endswith("]"):
        inner = dict(param, type=kind[: kind.rindex("[")])
        return [_checksummed(inner, v) for v in value]
    if kind == "address":
        return _checksum(value)
    if kind == "tuple":
        return tuple(_checksummed(c, v) for c, v in zip(param["components"], value, strict=True))
    return value


@dataclass(frozen=True, slots=True)
class _Function:
    selector: bytes
    inputs: list[str]
    outputs: tuple[Mapping[str, Any], ...]
    output_types: list[str]


@dataclass(frozen=True, slots=True)
class _Event:
    name: str
    indexed: tuple[Mapping[str, Any], ...]
    data: tuple[Mapping[str, Any], ...]
    data_types: list[str]


class ContractAbi:
    """Encodes calls to and decodes results and logs of one contract."""

    def __init__(self, name: str, abi: Sequence[Mapping[str, Any]]) -> None:
        self.name = name
        self._functions: dict[str, _Function] = {}
        self._events: dict[bytes, _Event] = {}
        self._constructor_inputs: list[str] = []
        for entry in abi:
            if entry["type"] == "function":
                outputs = tuple(entry["outputs"])
                self._functions[entry["name"]] = _Function(
                    function_abi_to_4byte_selector(dict(entry)),
                    _types(entry["inputs"]),
                    outputs,
                    _types(outputs),
                )
            elif entry["type"] == "event":
                indexed = tuple(i for i in entry["inputs"] if i["indexed"])
                data = tuple(i for i in entry["inputs"] if not i["indexed"])
                self._events[event_abi_to_log_topic(dict(entry))] = _Event(
                    entry["name"], indexed, data, _types(data)
                )
            elif entry["type"] == "constructor":
                self._constructor_inputs = _types(entry["inputs"])
        self._topics = {e.name: topic for topic, e in self._events.items()}

    def encode(self, function: str, args: Sequence[Any]) -> bytes:
        """Call data for `function(*args)`."""
        f = self._functions[function]
        return f.selector + eth_abi.encode(f.inputs, list(args))

    def decode(self, function: str, data: bytes) -> tuple[Any, ...]:
        """The return values of `function` from its return data."""
        f = self._functions[function]
        values = eth_abi.decode(f.output_types, data)
        return tuple(_checksummed(p, v) for p, v in zip(f.outputs, values, strict=True))

    def function_of(self, selector: bytes) -> str | None:
        """The name of the function whose 4-byte selector is `selector`, None if none."""
        return next((n for n, f in self._functions.items() if f.selector == selector), None)

    def constructor_data(self, bytecode: bytes, args: Sequence[Any]) -> bytes:
        """Creation code: the bytecode followed by the encoded constructor arguments."""
        return bytecode + eth_abi.encode(self._constructor_inputs, list(args))

    def topic(self, event: str) -> bytes:
        """topic0 of `event`."""
        return self._topics[event]

    def decode_log(self, log: RawLog) -> LedgerEvent | None:
        """The event a log entry holds, None when it is not one of this contract's."""
        event = self._events.get(log.topics[0]) if log.topics else None
        if event is None:
            return None
        args: dict[str, Any] = {}
        for param, topic in zip(event.indexed, log.topics[1:], strict=True):
            (value,) = eth_abi.decode([param["type"]], topic)
            args[param["name"]] = _checksummed(param, value)
        values = eth_abi.decode(event.data_types, log.data)
        for param, value in zip(event.data, values, strict=True):
            args[param["name"]] = _checksummed(param, value)
        return LedgerEvent(
            contract=self.name,
            name=event.name,
            args=args,
            block=log.block,
            tx_hash="0x" + log.tx_hash.hex(),
            log_index=log.log_index,
        )


def indexed_topic(abi_type: str, value: Any) -> bytes:
    """The topic an indexed event parameter of a value type is logged as (its ABI word):
    what a log filter on that parameter matches."""
    return eth_abi.encode([abi_type], [value])


def revert_reason(data: bytes) -> str:
    """The reason in revert data: Error(string), Panic(uint256), a custom error or none."""
    if data[:4] == _ERROR_STRING:
        try:
            (reason,) = eth_abi.decode(["string"], data[4:])
        except DecodingError:
            return "execution reverted (malformed reason)"
        return str(reason)
    if data[:4] == _PANIC and len(data) >= 36:
        return f"panic 0x{int.from_bytes(data[4:36], 'big'):02x}"
    if len(data) >= 4:
        return f"custom error 0x{data[:4].hex()}"
    return "execution reverted"


@cache
def contract_abi(name: str) -> ContractAbi:
    """The codec of the packaged contract `name`."""
    return ContractAbi(name, load_artifact(name).abi)
