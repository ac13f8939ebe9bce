"""A run on the pods of a deployment (`Pods(DIR)`) is refused before any work when an
option says what the deployment decides, or when its scenario is not the one the
pods were written for; each refusal names `pods` and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from secmas.api import Pods, RunInputError, placement_of, plan
from secmas.deploy.kubernetes import PODMAN, Options, build
from secmas.deploy.podman import available
from secmas.deploy.writing import write_bundle
from secmas.pipeline.busaccess import BusAccess
from secmas.scenario.model import Scenario
from secmas.scenario.topology import dump_scenario
from secmas.scenario.validation import load_runnable
from secmas.transport.address import BusAddress

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "ddos-6pop.yaml"
needs_podman = pytest.mark.skipif(not available(), reason="podman is not installed")


def deployed(folder: Path, scenario: Scenario) -> Path:
    bundle = build(scenario, dump_scenario(scenario), Options(image="localhost/a:1", target=PODMAN))
    write_bundle(bundle, folder)
    return folder


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployed(tmp_path_factory.mktemp("pods"), load_runnable(SCENARIO))


def refusal(*lines: str, **options: object) -> list[str]:
    with pytest.raises(RunInputError) as refused:
        plan(SCENARIO, **options)  # type: ignore[arg-type]
    assert refused.value.option == "pods"
    return refused.value.lines(lambda o: f"--{o}")


@needs_podman
def test_a_run_on_the_deployments_pods_is_planned_with_its_ledger(pods: Path) -> None:
    planned = plan(SCENARIO, placement=Pods(pods))
    assert planned.scenario.security.ledger == "http://127.0.0.1:8545"
    assert isinstance(planned.placement, Pods) and not isinstance(planned.placement.pods, Path)
    access = planned.placement.pods.ledger_access()
    assert access is not None  # the node's keys and token, drawn for the deployment
    assert planned.ledger_keys == access.keys and planned.ledger_token == access.token


@needs_podman
def test_key_files_beside_the_deployments_ledger_are_refused(pods: Path, tmp_path: Path) -> None:
    """The deployment's ledger funds only the keys it drew: another MLFO could not pay."""
    with pytest.raises(RunInputError, match="funds the keys it drew") as refused:
        plan(SCENARIO, placement=Pods(pods), mlfo_key=tmp_path / "mlfo.key")
    assert refused.value.option == "mlfo_key"


def test_options_the_deployment_decides_are_refused(pods: Path) -> None:
    """The CLI's options become one placement (`placement_of`); those that do not fit a
    deployment's pods are refused naming them, and so is a ledger beside them."""
    bus = BusAccess(BusAddress.parse("nats://127.0.0.1:4222"))

    def options_refused(**options: object) -> str:
        with pytest.raises(RunInputError) as refused:
            placement_of(**options)  # type: ignore[arg-type]
        assert refused.value.option == "pods"
        (line,) = refused.value.lines(lambda o: f"--{o}")
        return line

    assert options_refused(pods=pods) == (
        "--pods: the agents run as pods, one process each; add --processes"
    )
    assert options_refused(processes=True, bus=bus, pods=pods).endswith("drop --bus")
    assert options_refused(processes=True, hosts=Path("h.yaml"), pods=pods).endswith("drop --hosts")
    (line,) = refusal(placement=Pods(pods), ledger="http://10.0.0.1:8545")
    assert line.endswith("drop --ledger")


def test_pods_on_the_emulated_network_are_refused_naming_why(pods: Path) -> None:
    """On the emulated engine the agents run inside their PoPs' namespaces, where the
    pods' network does not reach."""
    (line,) = refusal(placement=Pods(pods), engine="emulated")
    assert "inside its PoP's namespace" in line and line.endswith("(or run on the simulator)")


@needs_podman
def test_a_folder_that_is_no_deployment_is_refused_naming_the_file(tmp_path: Path) -> None:
    (line,) = refusal(placement=Pods(tmp_path))
    assert line.startswith(f"--pods {tmp_path}/secrets.yaml: missing")


@needs_podman
def test_a_scenario_other_than_the_deployed_one_is_refused(tmp_path: Path) -> None:
    scenario = load_runnable(SCENARIO)
    other = scenario.model_copy(
        update={
            "id": "other",
            "pops": scenario.pops[:5],
            "security": scenario.security.model_copy(update={"enabled": False}),
        }
    )
    pods = deployed(tmp_path, other)
    lines = refusal(placement=Pods(pods))
    assert lines == [
        f"--pods {pods}: written for pipeline 'other', not 'ddos-6pop'",
        f"--pods {pods}: its agents are for PoPs pop1, pop2, pop3, pop4, pop5",
        f"--pods {pods}: written with the trust layer off, the run has it the other way",
    ]
