"""`--dataplane` and `secmas dataplane`: bad choices and a machine that cannot emulate are
told what is wrong, with exit 2 and no traceback (no network is built here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from secmas.cli.main import app
from secmas.network.emulation import preflight

ROOT = Path(__file__).resolve().parents[2]
EMULATED = str(ROOT / "scenarios" / "ddos-emulated.yaml")


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_an_unknown_engine_is_refused() -> None:
    code, output = invoke("run", EMULATED, "--dataplane", "ns3")
    assert code == 2 and "--dataplane 'ns3'" in output


def test_agents_on_the_emulated_engine_take_no_host_list(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text("hosts: []\n")
    bus = "nats://127.0.0.1:4222"  # a whole placement on other hosts: still not here
    code, output = invoke("run", EMULATED, "--processes", "--hosts", str(hosts), "--bus", bus)
    assert code == 2
    assert "--hosts: on the emulated data plane each agent runs inside its PoP's namespace" in (
        " ".join(output.split())
    )


def test_agents_on_the_emulated_engine_take_no_bus_of_the_users() -> None:
    code, output = invoke("run", EMULATED, "--processes", "--bus", "nats://127.0.0.1:4222")
    assert code == 2
    assert "--bus: on the emulated data plane the agents reach the run's own NATS server" in (
        " ".join(output.split())
    )


def test_a_machine_that_cannot_emulate_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(
        preflight, "missing", lambda: ["root: run as root", "nft: install nftables"]
    )
    code, output = invoke("run", EMULATED, "--insecure", "--out", str(tmp_path))
    assert code == 2
    assert "missing: root: run as root; nft: install nftables" in " ".join(output.split())


def test_missing_lists_every_absent_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight.shutil, "which", lambda _tool: None)
    lacking = " ".join(preflight.missing())
    for tool in ("ip", "tc", "nft", "mnexec", "brctl"):
        assert f"{tool}: install" in lacking
