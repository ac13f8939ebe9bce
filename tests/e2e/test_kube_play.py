"""The generated manifests brought up with `podman kube play`, the pipeline's bring-up
(steps 0-14) with every agent in its pod beside its measurer, and `podman kube down`.

`secmas deploy kubernetes --podman` writes the reference DDoS scenario's manifests (cut
to 40 simulated s: the bring-up is under test, not the mitigation) for the agent image;
`secmas.api.run` with `placement=Pods(DIR)` plays them, runs the MLFO
on this machine and takes everything down. Nothing of the deployment may be left, even
when the run fails. Skipped only where podman, mmdebstrap or root is missing.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from tests.pods import leftovers, one_deployment
from typer.testing import CliRunner

from secmas.api import Pods, run
from secmas.cli.main import app
from secmas.deploy.image import AgentImage
from secmas.deploy.kubeplay import PodDeployment

ROOT = Path(__file__).resolve().parents[2]
DURATION = 40
STEPS = ["0", "1", "2", "3-4", "5", "6-7", "8", "9-12", "13-14"]


def short_scenario(folder: Path) -> Path:
    """The reference scenario, `DURATION` simulated seconds long."""
    document = yaml.safe_load((ROOT / "scenarios" / "ddos-6pop.yaml").read_text())
    document["traffic"]["duration"] = DURATION
    path = folder / "ddos-6pop.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_manifests_run_the_pipeline_in_pods_and_leave_nothing(
    tmp_path: Path, agent_image: AgentImage
) -> None:
    scenario = short_scenario(tmp_path)
    pods = tmp_path / "pods"
    written = CliRunner().invoke(
        app,
        ["deploy", "kubernetes", str(scenario), "--podman", "-o", str(pods),
         "--image", agent_image.tag],
    )  # fmt: skip
    assert written.exit_code == 0, written.output
    deployment = PodDeployment.load(pods)
    with one_deployment():
        try:
            result = run(
                scenario,
                out=tmp_path / "run",
                placement=Pods(pods),
            )
        finally:
            left = leftovers(deployment)
            deployment.down()  # whatever the run left, before the assertions
    assert left == {"pods": [], "containers": [], "secrets": [], "volumes": [], "networks": []}
    workflow = result.report["workflow"]
    assert [(s["number"], s["outcome"]) for s in workflow] == [(n, "ok") for n in STEPS]
    deployed = next(s for s in workflow if s["number"] == "2")["outputs"]
    assert deployed["driver"] == "podman kube play"
    assert deployed["joined"] == [f"pop{i}" for i in range(1, 7)]
    for pop, pod in deployed["pods"].items():
        assert pod["pod"] == f"agent-{pop}" and pod["pid"] > 0
        assert pod["containers"] == {"agent": "running", "measurer": "running"}
    trust = result.report["trust"]
    assert {a["result"] for a in trust["attestations"]} == {"pass"}
    assert all(agent["trusted"] for agent in trust["agents"].values())
    assert (tmp_path / "run" / "agent-pop1.log").exists()
