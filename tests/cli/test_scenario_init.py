"""`secmas scenario init`: the file it writes validates with no warning and a run on it
mitigates the attack; an existing file is kept without --force; bad options exit 2 naming
the option. And a run that does nothing says why: an attack below the Link Monitor's
threshold is warned of, with the figures, by `scenario validate`, at the start of `run`, and
again as the run exits 1 with no auction."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from secmas.cli.main import app
from secmas.scenario.validation import load_with_warnings

runner = CliRunner()


def init(*options: str) -> tuple[int, str]:
    result = runner.invoke(app, ["scenario", "init", *options])
    return result.exit_code, result.output


def test_the_written_file_validates_and_runs_to_acceptance(tmp_path: Path) -> None:
    out = tmp_path / "my.yaml"
    code, output = init("--pops", "4", "--seed", "3", "--out", str(out))
    assert code == 0, output
    assert f"wrote {out}" in output
    text = out.read_text()
    assert text.startswith("# Scenario my-4pop: 4 PoPs")
    assert "A hand-written network of four PoPs in a ring" in text
    scenario, caveats = load_with_warnings(out)
    assert (len(scenario.pops), scenario.seed, caveats) == (4, 3, [])
    validated = runner.invoke(app, ["scenario", "validate", str(out)])
    assert validated.exit_code == 0 and "warning" not in validated.output.lower()
    # --insecure for time: tests/e2e/test_tutorial.py runs the starter securely
    run = ["run", str(out), "--out", str(tmp_path / "run"), "-q", "--insecure"]
    ran = runner.invoke(app, run)
    assert ran.exit_code == 0, ran.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["acceptance"]["passed"] and report["auctions"]


def test_a_topohub_network_is_written_commented(tmp_path: Path) -> None:
    out = tmp_path / "abilene.yaml"
    code, output = init("--topology", "sndlib/abilene", "--out", str(out), "--duration", "200")
    assert code == 0, output
    text = out.read_text()
    assert "# Generated from the topohub topology sndlib/abilene with seed 0: 12 PoPs" in text
    scenario, caveats = load_with_warnings(out)
    assert scenario.traffic is not None and scenario.traffic.duration == 200
    assert caveats == []
    ran = runner.invoke(app, ["run", str(out), "--out", str(tmp_path / "run"), "-q", "--insecure"])
    assert ran.exit_code == 0, ran.output


def test_an_existing_file_is_kept_without_force(tmp_path: Path) -> None:
    out = tmp_path / "my.yaml"
    out.write_text("mine\n")
    code, output = init("--out", str(out))
    assert code == 2
    assert f"--out {out} already exists: add --force" in output
    assert out.read_text() == "mine\n"
    code, output = init("--out", str(out), "--force")
    assert code == 0, output
    assert out.read_text().startswith("# Scenario my-3pop")


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--pops", "1"], "'--pops'"),
        (["--pops", "21"], "'--pops'"),
        (["--pops", "three"], "'--pops'"),
        (["--seed", "-1"], "'--seed'"),
        (["--duration", "0"], "'--duration'"),
        (["--duration", "5"], "--duration 5: attack.start: the attack starts at 10 s"),
        (["--pops", "3", "--topology", "sndlib/abilene"], "--pops and --topology: give one"),
        (["--topology", "sndlib/abilen"], "--topology unknown topology 'sndlib/abilen'; did "),
    ],
)
def test_bad_options_exit_2_naming_the_option(
    tmp_path: Path, options: list[str], says: str
) -> None:
    out = tmp_path / "my.yaml"
    code, output = init("--out", str(out), *options)
    assert code == 2
    assert says in " ".join(output.split()), output
    assert not out.exists()


def test_bad_out_paths_exit_2(tmp_path: Path) -> None:
    code, output = init("--out", str(tmp_path))
    assert code == 2 and f"--out {tmp_path} is a folder" in output
    code, output = init("--out", str(tmp_path / "no" / "my.yaml"))
    assert code == 2 and f"no folder {tmp_path / 'no'}" in output
    code, output = init()
    assert code == 2 and "'--out'" in output


def test_an_attack_below_the_threshold_is_said_at_validate_run_and_exit(tmp_path: Path) -> None:
    out = tmp_path / "weak.yaml"
    assert init("--out", str(out))[0] == 0
    text, found = re.subn(r"\n  rate: 1 .*\n", "\n  rate: 0.4\n", out.read_text())
    assert found == 1
    out.write_text(text)
    below = (
        "attack: the monitored link pop3–server carries about 3.75 MB/s with the attack on "
        "(1.59 MB/s of it the attack's), below the Link Monitor's 4 MB/s threshold "
        "(defence.monitor.threshold): no auction will start"
    )
    validated = runner.invoke(app, ["scenario", "validate", str(out)])
    assert validated.exit_code == 0
    assert f"{out}:" in validated.output and below in " ".join(validated.output.split())

    ran = runner.invoke(app, ["run", str(out), "--out", str(tmp_path / "run"), "-q", "--insecure"])
    assert ran.exit_code == 1
    said = " ".join(ran.output.split())
    assert said.index(below) < said.index("acceptance")  # at the start of the run
    why = said[said.index("the attack was not mitigated") :]
    assert why.startswith(
        "the attack was not mitigated: acceptance figures not met why: the Link Monitor never "
        "perceived over-usage of pop3–server: the link carried at most"
    )
    assert "below its 4 MB/s threshold" in why and why.endswith("started no auction")
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["auctions"] == []
