"""Looking for the bus's secrets where a local user or a reader of the run's files can:
the agents' command lines (`ps`, /proc/PID/cmdline) and the files of the run folder.

The credentials are a password in the `--bus` URL (the worst place a user can put them)
and the per-agent nkey seeds; neither may appear on an agent's command line, in
report.json, scenario.yaml or the logs, and the seeds are gone when the run ends."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import pytest
from tests.conftest import until
from typer.testing import CliRunner

from secmas.cli.main import app
from secmas.pipeline.agent_process import ready_subject
from secmas.pipeline.busaccess import issue_pipeline_users, issue_run_bus
from secmas.pipeline.iml import BUS_AUTH_ENV, AgentLaunch, LocalProcesses
from secmas.pipeline.mlfo import pipeline_name
from secmas.pipeline.spawner import spawner_argv
from secmas.scenario.loader import load_scenario
from secmas.transport.address import BusAddress
from secmas.transport.broker import MISSING_BINARY, NatsCluster, NatsServer, find_nats_server
from secmas.transport.tls import issue_run_pki
from secmas.trust.control import MLFO

if find_nats_server() is None:
    pytest.skip(f"runs over NATS need a server: {MISSING_BINARY}", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_FILE = ROOT / "scenarios" / "ddos-6pop.yaml"
SCENARIO = load_scenario(SCENARIO_FILE)
PIPELINE = pipeline_name(SCENARIO.id)
PASSWORD = "hunter2-bus-password"


def test_an_agent_process_shows_no_secret_on_its_command_line(tmp_path: Path) -> None:
    """A real `secmas agent` joins over TLS with its nkey and a URL password; while it
    runs, its /proc/PID/cmdline holds neither, and the password is in its environment."""
    run_bus = issue_run_bus(tmp_path / "bus", PIPELINE, ["pop1"])
    with NatsServer(tls=run_bus.certificate, users=run_bus.users) as server:
        access = replace(run_bus.access, address=BusAddress.parse(server.url))
        launch = AgentLaunch(
            "pop1",
            SCENARIO_FILE,
            access.address.plain,
            PIPELINE,
            bus_ca=access.ca_file,
            bus_nkey=access.nkey("pop1"),
            bus_auth=f"agent:{PASSWORD}",
        )
        driver = LocalProcesses(tmp_path)

        async def watch() -> tuple[bytes, bytes]:
            mlfo = await access.connect(MLFO, "mlfo")
            ready: list[str] = []

            async def on_ready(subject: str, _data: bytes) -> None:
                ready.append(subject)

            await mlfo.subscribe(ready_subject(PIPELINE, "*"), on_ready)
            driver.start(launch)
            try:
                await until(lambda: bool(ready) or bool(driver.dead()), timeout=60)
                assert ready == [ready_subject(PIPELINE, "pop1")], driver.log_tail("pop1")
                pid = driver.procs["pop1"].pid
                return (
                    Path(f"/proc/{pid}/cmdline").read_bytes(),
                    Path(f"/proc/{pid}/environ").read_bytes(),
                )
            finally:
                driver.stop_all()
                await mlfo.close()

        cmdline, environ = asyncio.run(watch())
    seed = access.nkey("pop1").read_bytes().strip()
    assert seed not in cmdline and PASSWORD.encode() not in cmdline
    # forked from the run's spawner: it shows the spawner's start, and its secrets reached
    # it over the spawner's socket, not in an environment any of its user's processes read
    assert cmdline.split(b"\0")[:-1] == [w.encode() for w in spawner_argv(tmp_path)]
    assert seed not in environ and PASSWORD.encode() not in environ
    assert BUS_AUTH_ENV.encode() not in environ


def test_a_run_on_a_cluster_records_no_bus_secret(tmp_path: Path) -> None:
    """`secmas run --processes` on an external 3-node TLS cluster, a password in `--bus`
    and the agents' seeds from `secmas bus keys`: the agents spread over the nodes, and
    nothing of the password or the seeds is in any file of the run."""
    names = ["n1", "n2", "n3"]
    pki = issue_run_pki(tmp_path / "pki", names)
    keys = tmp_path / "keys"
    users = issue_pipeline_users(keys, PIPELINE, [p.id for p in SCENARIO.pops])
    seeds = [p.read_bytes().strip() for p in keys.glob("*.nk")]
    out = tmp_path / "run"
    with NatsCluster(3, tls=pki, users=users) as cluster:
        bus = ",".join(u.replace("tls://", f"tls://mlfo:{PASSWORD}@") for u in cluster.urls)
        args = ["run", str(SCENARIO_FILE), "--processes", "--insecure", "--speed", "40"]
        args += ["--bus", bus, "--bus-ca", str(pki["n1"].ca_file), "--bus-keys", str(keys)]
        result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code in (0, 1), result.output  # 1: acceptance figures not met
    report = json.loads((out / "report.json").read_text())
    step2 = next(s for s in report["workflow"] if s["number"] == "2")
    assert step2["inputs"]["bus"] == cluster.bus.replace("tls://", "tls://***@")
    logs = "".join(p.read_text() for p in out.glob("agent-*.log"))
    assert {u for u in cluster.urls if f"connected to {u}" in logs} == set(cluster.urls)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"report.json", "scenario.yaml", "agent-pop1.log"} <= {p.name for p in files}
    for path in files:
        content = path.read_bytes()
        assert PASSWORD.encode() not in content, path
        assert not [s for s in seeds if s in content], path
    assert PASSWORD not in result.output


def test_a_run_with_its_own_server_discards_its_keys(tmp_path: Path) -> None:
    """What a run's own server needed (server key, seeds) is gone after it; the
    certificates stay with the run."""
    from secmas.pipeline.busaccess import BUS_FOLDER, discard_secrets

    folder = tmp_path / BUS_FOLDER
    issue_run_bus(folder, PIPELINE, ["pop1", "pop2"])
    discard_secrets(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["ca.pem", "nats.pem"]
