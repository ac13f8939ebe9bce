"""The run's output folder, ports and seed, checked before any work
(`secmas.cli.arguments`); the bad cases are rows of test_bad_inputs.py, these are the ones
that pass, and the seed's bound on every command that takes one."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from secmas.cli.arguments import check_out, check_port, parse_seed
from secmas.cli.main import app, default_scenario_path
from secmas.scenario.model import MAX_SEED


def test_new_empty_and_forced_folders_are_accepted(tmp_path: Path) -> None:
    check_out(tmp_path / "new" / "deeper", force=False)
    check_out(tmp_path, force=False)
    (tmp_path / "report.json").write_text("{}")
    check_out(tmp_path, force=True)
    with pytest.raises(typer.Exit):
        check_out(tmp_path, force=False)
    assert not list(tmp_path.glob(".secmas-probe-*")), "the write probe is left behind"


def test_a_free_port_and_port_zero_are_accepted() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    check_port("--metrics-port", port, "127.0.0.1")
    check_port("--metrics-port", 0, "127.0.0.1")
    check_port("--metrics-port", None, "127.0.0.1")


@pytest.mark.parametrize(
    ("text", "seed"),
    [("0", 0), ("7", 7), ("4294967295", MAX_SEED), (" 42 ", 42), ("-0", 0), (0, 0)],
)
def test_seeds_from_0_to_the_bound_are_accepted(text: str | int, seed: int) -> None:
    assert parse_seed(text) == seed


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("4294967296", "4294967296 is above 4294967295"),
        ("1" * 30, f"{'1' * 30} is above 4294967295"),
        ("-1", "-1 is below 0"),
        ("1e3", "'1e3' is not a whole number"),
        ("", "'' is not a whole number"),
        ("9" * 5000, "is above 4294967295"),
    ],
)
def test_seeds_out_of_range_or_not_numbers_are_refused(text: str, says: str) -> None:
    with pytest.raises(typer.BadParameter) as refused:
        parse_seed(text)
    assert says in str(refused.value)
    assert len(str(refused.value)) < 200, "a huge seed is quoted whole"


def test_run_refuses_a_seed_above_the_bound_before_any_work(tmp_path: Path) -> None:
    seed = "1" * 30
    args = ["run", str(default_scenario_path()), "--out", str(tmp_path / "run"), "--seed", seed]
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 2, result.output
    assert f"'--seed': {seed} is above 4294967295" in " ".join(result.output.split())
    assert "step 0:" not in result.output and not (tmp_path / "run").exists()


def test_from_topology_takes_its_default_seed_and_refuses_one_above_the_bound(
    tmp_path: Path,
) -> None:
    out = tmp_path / "x.yaml"
    args = ["scenario", "from-topology", "sndlib/abilene", "-o", str(out)]
    result = CliRunner().invoke(app, [*args, "--seed", "4294967296"], terminal_width=200)
    assert result.exit_code == 2, result.output
    assert "4294967296 is above 4294967295" in result.output and not out.exists()
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "topology sndlib/abilene, seed 0:" in out.read_text()


@pytest.mark.parametrize("command", [["run"], ["scenario", "from-topology"]])
def test_the_seed_bound_is_in_the_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    assert "0 to 4294967295" in result.output
