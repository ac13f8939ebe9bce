"""The control connection to a moving CNF instance: a hung or garbled instance fails the
move with a reason instead of blocking it (or the run) for ever. Plain Unix sockets, no
namespaces needed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from secmas.network.emulation import migration
from secmas.network.emulation.migration import Control, MigrationFailed


async def _ask_instance(folder: Path, answer: bytes | None, op: str) -> dict[str, object]:
    """Ask `op` of an instance that answers `answer` (None: never; empty: hangs up)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        if answer == b"":
            writer.close()
            return
        if answer is not None:
            writer.write(answer)
            await writer.drain()
        await reader.read()  # until the asking side closes
        writer.close()

    path = folder / "instance.sock"
    server = await asyncio.start_unix_server(serve, path=str(path))
    control = Control(*await asyncio.open_unix_connection(str(path)))
    try:
        return await control.ask(op)
    finally:
        control.close()
        server.close()


def test_an_answer_is_returned(tmp_path: Path) -> None:
    assert asyncio.run(_ask_instance(tmp_path, b'{"bytes": 12}\n', "dump")) == {"bytes": 12}


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (None, "control dump: no answer from the instance in 0 s"),
        (b"", "control dump: the instance closed the connection"),
        (b"{not json\n", "control dump: not a JSON answer"),
        (b"[1, 2]\n", "control dump: expected a JSON object"),
        (b'{"error": "no such session"}\n', "control dump: no such session"),
    ],
)
def test_a_hung_or_garbled_instance_fails_the_move_naming_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: bytes | None, reason: str
) -> None:
    monkeypatch.setattr(migration, "CONTROL_TIMEOUT", 0.2)
    with pytest.raises(MigrationFailed, match=reason):
        asyncio.run(_ask_instance(tmp_path, answer, "dump"))
