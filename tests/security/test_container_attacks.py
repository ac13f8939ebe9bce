"""Attacks on an agent that runs as a container of the agent image: the reference
SECaaS signs covers the image's files, and a running container is measured
from the host (`/proc/PID/root`, its mounts, its mapped files) against it
(`secmas.trust.container`).

- a file of the running container altered after start (code patched, a start-up hook
  added, a setuid bit set), through the container's root on the host;
- an image whose files differ from the reference (a tampered copy under another tag) is
  refused, by the check and by the IML driver before any agent starts;
- image files hidden by a mount over them;
- code loaded from outside the image (a library copied to the container's tmpfs and
  preloaded);
- links and a FIFO planted in a writable root, to lead the measurer onto the host's files
  or stall it: measured as what they are, never followed nor read.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from tests.containers import Containers, Reference, remove_image

from secmas.deploy.containers import PodmanAgents
from secmas.deploy.image import AgentImage, verify_image
from secmas.deploy.podman import podman
from secmas.pipeline.errors import PipelineError
from secmas.pipeline.iml import AgentLaunch
from secmas.trust.container import check_container, entry_digest, measure_root

SITE = "/usr/local/lib/python3.11/dist-packages"
AGENT_CODE = f"{SITE}/secmas/pipeline/agent_process.py"
SLEEP = ("python", "-c", "import time; time.sleep(600)")
LOCKED = ("--read-only", "--user", "10001:10001", "--cap-drop", "all")


def wait_for(condition: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_file_altered_in_a_running_container_is_detected(
    agent_image: AgentImage, image_reference: Reference
) -> None:
    ref = image_reference
    with Containers() as started:
        pid = started.run("altered", agent_image.id, *SLEEP, options=LOCKED)
        genuine = check_container(pid, ref.manifest, ref.trusted)
        assert genuine.ok, genuine.problems()[:5]
        root = Path(podman(["mount", started.name("altered")]).strip())
        try:
            with (root / AGENT_CODE.lstrip("/")).open("a") as code:
                code.write("\n__import__('os').system('id')  # implant\n")
            (root / SITE.lstrip("/") / "zz-hook.pth").write_text("import os\n")
            os.chmod(root / "usr/bin/python3.11", 0o4755)
        finally:
            podman(["unmount", started.name("altered")])
        check = check_container(pid, ref.manifest, ref.trusted)
    assert not check.ok
    problems = check.problems()
    assert f"changed {AGENT_CODE}" in problems
    assert f"extra {SITE}/zz-hook.pth" in problems
    assert "changed /usr/bin/python3.11" in problems


def test_an_image_whose_files_differ_from_the_reference_is_refused(
    agent_image: AgentImage, image_reference: Reference, tmp_path: Path
) -> None:
    ref = image_reference
    assert verify_image(agent_image.id, ref.manifest, ref.trusted).ok
    tampered = f"localhost/secmas-agent-tampered:{os.getpid()}"
    try:
        with Containers() as started:
            started.run("source", agent_image.id, "true")
            name = started.name("source")
            root = Path(podman(["mount", name]).strip())
            try:
                (root / AGENT_CODE.lstrip("/")).write_text("raise SystemExit('implant')\n")
            finally:
                podman(["unmount", name])
            podman(["commit", "--quiet", name, tampered])
        verification = verify_image(tampered, ref.manifest, ref.trusted)
        assert not verification.ok
        assert f"changed {AGENT_CODE}" in verification.problems()
        driver = PodmanAgents(tmp_path, tampered, reference=ref.manifest, trusted=ref.trusted)
        scenario = tmp_path / "scenario.yaml"
        scenario.write_text("id: x\n")
        try:
            with pytest.raises(PipelineError, match="refused: not its reference"):
                driver.start(AgentLaunch("pop1", scenario, "nats://127.0.0.1:1", "pipe"))
            assert driver.describe()["pids"] == {}
        finally:
            driver.stop_all()
    finally:
        remove_image(tampered)


def test_image_files_hidden_by_a_mount_are_a_finding(
    agent_image: AgentImage, image_reference: Reference, tmp_path: Path
) -> None:
    ref = image_reference
    hidden = f"{SITE}/secmas/agents"
    (tmp_path / "decoy.py").write_text("")
    with Containers() as started:
        options = (*LOCKED, "-v", f"{tmp_path}:{hidden}:ro")
        pid = started.run("mounted", agent_image.id, *SLEEP, options=options)
        check = check_container(pid, ref.manifest, ref.trusted)
    assert f"{hidden} is mounted over the image" in check.problems()


def test_code_mapped_from_outside_the_image_is_detected(
    agent_image: AgentImage, image_reference: Reference
) -> None:
    ref = image_reference
    preload = (
        "cp /usr/lib/x86_64-linux-gnu/libz.so.1 /tmp/libevil.so && "
        "LD_PRELOAD=/tmp/libevil.so exec python -c 'import time; time.sleep(600)'"
    )
    with Containers() as started:
        pid = started.run("preload", agent_image.id, "sh", "-c", preload, options=LOCKED)
        maps = Path(f"/proc/{pid}/maps")
        wait_for(lambda: "libevil" in maps.read_text(), "the preloaded library")
        check = check_container(pid, ref.manifest, ref.trusted)
    assert "maps /tmp/libevil.so, not a file of the image" in check.problems()
    assert check.files.ok  # /tmp is the runtime's tmpfs: only the mapping gives it away


def test_links_and_fifos_planted_in_the_root_are_measured_not_followed(
    agent_image: AgentImage, image_reference: Reference
) -> None:
    ref = image_reference
    plant = (
        "ln -s /etc/shadow /usr/share/evil-link && ln -s / /usr/share/evil-root && "
        "mkfifo /usr/share/evil-fifo && touch /tmp/planted && exec sleep 600"
    )
    with Containers() as started:
        pid = started.run("planted", agent_image.id, "sh", "-c", plant)  # writable root
        wait_for(lambda: Path(f"/proc/{pid}/root/tmp/planted").exists(), "the plants")
        check = check_container(pid, ref.manifest, ref.trusted)
        measured = measure_root(Path(f"/proc/{pid}/root"), ["/proc", "/sys", "/dev"])
        link = os.lstat(f"/proc/{pid}/root/usr/share/evil-link")
    problems = check.problems()
    for planted in ("evil-link", "evil-root", "evil-fifo"):
        assert f"extra /usr/share/{planted}" in problems
    assert measured["/usr/share/evil-link"] == entry_digest("link", link, "/etc/shadow")
    assert not [path for path in measured if path.startswith("/usr/share/evil-root/")]
