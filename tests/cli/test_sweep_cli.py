"""`secmas sweep` exit codes: 0 all runs done, 1 a run failed (its row holds the error, the
others ran), 2 bad input (spec, value, folder) before any run, never a traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from secmas.cli.main import app

ONE_RUN = """\
name: one
scenarios: [{ring: 6}]
seeds: [0, 1]
fixed: {security.enabled: false, traffic.duration: 30}
"""


def sweep(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["sweep", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def spec(tmp_path: Path, text: str = ONE_RUN) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return str(path)


def test_runs_then_refuses_the_same_folder_without_resume(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    code, output = sweep(spec(tmp_path), "--out", out, "--workers", "2", "--quiet")
    assert code == 0, output
    assert "2 runs in" in output and "0 failed of 2" in output
    assert (tmp_path / "out" / "sweep-one.csv").read_text().count("\n") == 3
    code, output = sweep(spec(tmp_path), "--out", out)
    assert code == 2 and "holds results: --resume" in output
    code, output = sweep(spec(tmp_path), "--out", out, "--resume", "--quiet")
    assert code == 0 and "0 runs in" in output and "2 already done" in output


def test_a_failed_run_is_a_row_and_exit_1(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "sweep-one-runs").write_text("a file where the runs' folders go")
    code, output = sweep(spec(tmp_path), "--out", str(out), "--keep-runs", "--quiet")
    assert code == 1
    assert "2 runs failed" in output and "cannot write the run" in output
    assert (out / "sweep-one.csv").read_text().count("RunFailed") == 2


def test_bad_input_exits_2_naming_file_line_and_reason(tmp_path: Path) -> None:
    code, output = sweep(spec(tmp_path, ONE_RUN + "parameters: {attack.rat: [1]}\n"))
    assert code == 2 and "spec.yaml:5: parameters.attack.rat:" in output
    assert "did you mean 'rate'" in output
    code, output = sweep(spec(tmp_path, ONE_RUN + "parameters: {attack.rate: [1, -2]}\n"))
    assert code == 2 and "spec.yaml:5:" in output and "attack.rate=-2" in output
    assert "Input should be greater than 0" in output
    code, output = sweep(str(tmp_path / "missing.yaml"))
    assert code == 2 and "cannot read file" in output
    missing = ONE_RUN.replace("[{ring: 6}]", "[nowhere.yaml]")
    code, output = sweep(spec(tmp_path, missing), "--dry-run")
    assert code == 2 and "spec.yaml:2: scenarios[0]: no file" in output


def test_dry_run_checks_every_point_and_runs_nothing(tmp_path: Path) -> None:
    code, output = sweep(spec(tmp_path), "--dry-run", "--out", str(tmp_path / "out"))
    assert code == 0 and "2 runs over 1 checked points" in output
    assert not (tmp_path / "out").exists()
