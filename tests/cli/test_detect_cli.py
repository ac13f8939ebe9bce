"""`secmas detect fit` and `secmas detect score`: output, files and exit codes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from secmas.analytics.options import DEFAULT_DETECTOR
from secmas.analytics.registry import detector_names, load_detector
from secmas.cli.detect import detect_app

runner = CliRunner()
app = typer.Typer(pretty_exceptions_enable=False)
app.add_typer(detect_app, name="detect")

TINY = [
    "--model",
    "lstm-ae",
    "--window",
    "5",
    "--epochs",
    "2",
    "--batch",
    "20",
    "--hidden",
    "4",
    "--latent",
    "2",
]


def metrics(steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    base = np.sin(2 * np.pi * t / 20)
    values = np.column_stack([2 + base, 1 + 0.5 * base, 10 + np.cos(2 * np.pi * t / 20)])
    return values + 0.05 * rng.standard_normal(values.shape)


def write_csv(path: Path, values: np.ndarray, columns: tuple[str, ...] = ("cpu", "load", "p99")):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("timestamp", *columns))
        for i, row in enumerate(values):
            writer.writerow((1_700_000_000 + 15 * i, *(f"{v:.5f}" for v in row)))
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("detect")
    normal = write_csv(folder / "normal.csv", metrics(150))
    model = folder / "ae.pt"
    result = runner.invoke(app, ["detect", "fit", "--csv", str(normal), "-o", str(model), *TINY])
    assert result.exit_code == 0, result.output
    return model, result.output


def test_fit_reports_progress_threshold_and_time(fitted: tuple[Path, str]) -> None:
    model, output = fitted
    assert model.is_file()
    assert "150 rows of 3 metrics (cpu, load, p99)" in output
    assert "epoch   1/2  train MAE" in output and "epoch   2/2" in output
    assert "validation MAE" in output
    assert "training the LSTM autoencoder (2 epochs)" in output
    assert "lstm-ae: threshold" in output
    assert "99th percentile of the scores of 146 normal windows" in output
    assert "prepared in" in output and f"wrote {model}" in output


def test_score_prints_alerts_and_writes_one_row_per_window(
    fitted: tuple[Path, str], tmp_path: Path
) -> None:
    model, _ = fitted
    values = metrics(60, seed=1)
    values[30:35, 2] += 10.0  # latency (p99) surge
    data = write_csv(tmp_path / "data.csv", values)
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        app, ["detect", "score", "--csv", str(data), "--model", str(model), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "56 windows," in result.output and "under the static threshold" in result.output
    assert "top" in result.output and "alerts" in result.output and "p99" in result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 56
    assert rows[0]["end"] == "4" and rows[0]["timestamp"] == str(1_700_000_000 + 4 * 15)
    surge = [r for r in rows if 30 <= int(r["end"]) < 35]
    assert all(r["flag"] == "1" and r["top_feature"] == "p99" for r in surge)
    adaptive = runner.invoke(
        app,
        [
            "detect",
            "score",
            "--csv",
            str(data),
            "--model",
            str(model),
            "--threshold",
            "adaptive",
            "--top",
            "0",
        ],
    )
    assert adaptive.exit_code == 0, adaptive.output
    assert "under the adaptive threshold" in adaptive.output


def test_columns_in_another_order_are_matched_by_name(
    fitted: tuple[Path, str], tmp_path: Path
) -> None:
    model, _ = fitted
    data = write_csv(tmp_path / "d.csv", metrics(20)[:, [2, 0, 1]], ("p99", "cpu", "load"))
    result = runner.invoke(app, ["detect", "score", "--csv", str(data), "--model", str(model)])
    assert result.exit_code == 0, result.output


def bad_inputs(tmp_path: Path, model: Path) -> list[tuple[list[str], str]]:
    wrong = write_csv(tmp_path / "wrong.csv", metrics(20), ("cpu", "load", "mem"))
    short = write_csv(tmp_path / "short.csv", metrics(3))
    gap = tmp_path / "gap.csv"
    gap.write_text("cpu,load,p99\n1,2,3\n1,,3\n")
    data = write_csv(tmp_path / "ok.csv", metrics(20))
    few = write_csv(tmp_path / "few.csv", metrics(8))
    return [
        (
            ["score", "--csv", str(tmp_path / "none.csv"), "--model", str(model)],
            "none.csv: no such file",
        ),
        (["score", "--csv", str(wrong), "--model", str(model)], "missing 'p99'; unexpected 'mem'"),
        (
            ["score", "--csv", str(short), "--model", str(model)],
            "short.csv has 3 rows; the model needs at least 5",
        ),
        (["score", "--csv", str(gap), "--model", str(model)], "gap.csv:3: column 'load' is empty"),
        (["score", "--csv", str(data), "--model", str(data)], "ok.csv is not a secmas model file"),
        (["score", "--csv", str(data), "--model", str(tmp_path / "no.pt")], "no.pt: no such file"),
        (
            [
                "score",
                "--csv",
                str(data),
                "--model",
                str(model),
                "-o",
                str(tmp_path / "no" / "s.csv"),
            ],
            f"--out {tmp_path / 'no' / 's.csv'}: no folder {tmp_path / 'no'}",
        ),
        (["fit", "--csv", str(short), "-o", str(tmp_path / "m.pt"), *TINY], "short.csv has 3 rows"),
        (
            ["fit", "--csv", str(few), "-o", str(tmp_path / "m.pt"), *TINY],
            "few.csv: 4 windows are too few to hold 20% out",
        ),
        (["fit", "--csv", str(gap), "-o", str(tmp_path / "m.pt")], "gap.csv:3"),
        (
            [
                "fit",
                "--csv",
                str(data),
                "-o",
                str(tmp_path / "no" / "m.pt"),
                "--window",
                "2",
                "--epochs",
                "1",
                "--hidden",
                "2",
            ],
            f"--out {tmp_path / 'no' / 'm.pt'}: no folder {tmp_path / 'no'}",
        ),
    ]


def test_bad_input_exits_2_with_one_line_naming_the_file(
    fitted: tuple[Path, str], tmp_path: Path
) -> None:
    model, _ = fitted
    for arguments, message in bad_inputs(tmp_path, model):
        result = runner.invoke(app, ["detect", *arguments])
        assert result.exit_code == 2, (arguments, result.output)
        assert message in result.output, (arguments, result.output)
        assert "Traceback" not in result.output
        assert sum(line.startswith("error: ") for line in result.output.splitlines()) == 1


def test_help_lists_both_commands() -> None:
    result = runner.invoke(app, ["detect", "--help"])
    assert result.exit_code == 0
    assert "fit" in result.output and "score" in result.output


def labelled_csv(path: Path, steps: int = 300) -> Path:
    """What `secmas detect dataset --labels` writes: metrics, then a text `label` column."""
    values = metrics(steps, seed=5)
    values[150:170, 0] += 3.0  # cpu jumps
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("timestamp", "cpu", "load", "p99", "label"))
        for i, row in enumerate(values):
            label = "high_cpu" if 150 <= i < 170 else "normal"
            writer.writerow((i, *(f"{v:.5f}" for v in row), label))
    return path


def test_baselines_and_auto_behind_the_same_fit_and_score(tmp_path: Path) -> None:
    normal = write_csv(tmp_path / "normal.csv", metrics(400))
    test = labelled_csv(tmp_path / "test.csv")
    model = tmp_path / "z.pt"
    fit = runner.invoke(
        app, ["detect", "fit", "--csv", str(normal), "-o", str(model), "--model", "zscore"]
    )
    assert fit.exit_code == 0, fit.output
    assert "zscore: threshold" in fit.output
    scored = runner.invoke(app, ["detect", "score", "--csv", str(test), "--model", str(model)])
    assert scored.exit_code == 0, scored.output  # the label column of detect dataset is accepted
    assert scored.output.startswith("zscore: 291 windows")
    assert "against column 'label': 1/1 events detected" in scored.output
    assert "ROC-AUC" in scored.output
    auto, report = tmp_path / "auto.pt", tmp_path / "auto.json"
    args = ["--model", "auto", "--candidates", "zscore,pca", "--report", str(report)]
    chosen = runner.invoke(app, ["detect", "fit", "--csv", str(normal), "-o", str(auto), *args])
    assert chosen.exit_code == 0, chosen.output
    assert "auto: candidates in the benchmark's order on held-out normal data" in chosen.output
    assert "auto chose zscore: the first in the benchmark's order" in chosen.output
    written = json.loads(report.read_text())
    assert written["selection"]["chosen"] == written["detector"] == "zscore"
    assert [c["detector"] for c in written["selection"]["candidates"]] == ["zscore"]
    again = runner.invoke(app, ["detect", "score", "--csv", str(test), "--model", str(auto)])
    assert again.exit_code == 0 and again.output.startswith(written["detector"])


@pytest.mark.parametrize(
    ("columns", "extra", "message"),
    [
        (("cpu", "load", "label"), None, "column(s) 'label' look like ground truth"),
        (("cpu", "load", "is_attack"), None, "column(s) 'is_attack' look like ground truth"),
        (("cpu", "load", "up"), None, "column(s) 'up' look like ground truth"),
        (("cpu", "load", "p99"), ["--columns", "cpu,nope"], "--columns: 'nope' not in"),
        (("cpu", "load", "p99"), ["--columns", "cpu,cpu"], "a column is named twice"),
        (("cpu", "load", "p99"), ["--model", "auto", "--candidates", "lof"], "unknown lof"),
    ],
)
def test_label_like_columns_are_refused_unless_named(
    tmp_path: Path, columns: tuple[str, ...], extra: list[str] | None, message: str
) -> None:
    values = metrics(200)
    if columns[-1] in ("label", "is_attack", "up"):
        values[:, 2] = np.arange(200) % 2  # 0/1 only
    path = write_csv(tmp_path / "m.csv", values, columns)
    argv = ["detect", "fit", "--csv", str(path), "-o", str(tmp_path / "m.pt"), "--model", "pca"]
    result = runner.invoke(app, argv + (extra or []))
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    if extra is None:
        named = runner.invoke(app, [*argv, "--columns", ",".join(columns)])
        assert named.exit_code == 0, named.output  # named in --columns: trained on, as asked


def constant_load(path: Path) -> Path:
    """400 rows of normal metrics whose `load` reads 10 in every row."""
    values = metrics(400)
    values[:, 1] = 10.0
    return write_csv(path, values)


CONSTANT = "'load' is constant (10 in all 400 rows): nothing to learn from it; leave it out"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--columns", "cpu,load"], f"--columns: {CONSTANT}"),
        (["--columns", "load"], f"--columns: {CONSTANT}"),  # alone: a threshold of 0
        (["--columns", "load,p99", "--model", "pca"], f"--columns: {CONSTANT}"),
        (["--columns", "cpu,load", "--model", "auto"], f"--columns: {CONSTANT}"),
        (["--model", "auto"], f"m.csv: column {CONSTANT} (--columns cpu,p99)"),
        ([], f"m.csv: column {CONSTANT} (--columns cpu,p99)"),
    ],
)
def test_a_constant_column_is_refused_naming_it(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    path = constant_load(tmp_path / "m.csv")
    model = tmp_path / "m.pt"
    result = runner.invoke(app, ["detect", "fit", "--csv", str(path), "-o", str(model), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not model.exists()


def test_a_varying_column_beside_it_is_enough(tmp_path: Path) -> None:
    path = constant_load(tmp_path / "m.csv")
    argv = ["--columns", "cpu,p99", "--model", "zscore"]
    result = runner.invoke(
        app, ["detect", "fit", "--csv", str(path), "-o", str(tmp_path / "z.pt"), *argv]
    )
    assert result.exit_code == 0, result.output


def test_bad_arguments_are_refused_before_torch_and_sklearn_load(tmp_path: Path) -> None:
    """Every refusal that needs no detector comes before the seconds of importing one."""
    path = str(constant_load(tmp_path / "m.csv"))
    short = str(write_csv(tmp_path / "short.csv", metrics(3)))
    fit = ["detect", "fit", "-o", str(tmp_path / "m.pt"), "--csv"]
    refused = [
        [*fit, path, "--columns", "cpu,load"],
        [*fit, path],
        [*fit, path, "--columns", "cpu,nope"],
        [*fit, path, "--model", "auto", "--candidates", "zscore,lof"],
        [*fit, short, "--columns", "cpu,p99"],
        [*fit, str(tmp_path / "none.csv")],
    ]
    script = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from secmas.cli.main import app\n"
        "codes = [CliRunner().invoke(app, argv).exit_code for argv in json.loads(sys.argv[1])]\n"
        "print(json.dumps([codes, sorted({'torch', 'sklearn'} & set(sys.modules))]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(refused)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    codes, loaded = json.loads(done.stdout.splitlines()[-1])
    assert codes == [2] * len(refused)
    assert loaded == []


def test_the_model_choices_are_the_installed_detectors_and_auto() -> None:
    option = next(
        p
        for p in typer.main.get_command(app).commands["detect"].commands["fit"].params
        if p.name == "model"
    )
    assert option.metavar == "[" + "|".join((*detector_names(), "auto")) + "]"


def test_fit_defaults_to_auto_which_keeps_the_zscore_where_normal_data_shows_no_failing(
    tmp_path: Path,
) -> None:
    assert DEFAULT_DETECTOR == "auto"
    normal = write_csv(tmp_path / "normal.csv", metrics(400))
    model = tmp_path / "default.pt"
    result = runner.invoke(app, ["detect", "fit", "--csv", str(normal), "-o", str(model)])
    assert result.exit_code == 0, result.output
    assert "auto chose zscore: the first in the benchmark's order" in result.output
    assert "zscore: threshold" in result.output and "epoch" not in result.output
    assert load_detector(model).name == "zscore"
    short = write_csv(tmp_path / "short.csv", metrics(150))
    result = runner.invoke(app, ["detect", "fit", "--csv", str(short), "-o", str(model), "--force"])
    assert result.exit_code == 0, result.output
    assert "150 normal rows are too few to validate on" in result.output


def repeated_hour(path: Path, labelled: bool = False) -> Path:
    """Two hours of 5-minute rows of a zoneless local clock that repeats 02:00–02:55, as
    when daylight saving time ends: 36 rows, 12 of them a second time."""
    clock = [f"{h:02d}:{m:02d}" for h in (1, 2, 2, 3) for m in range(0, 60, 5)][:36]
    values = metrics(len(clock))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("timestamp", "cpu", "load", "p99", *(["label"] if labelled else [])))
        for time, row in zip(clock, values, strict=True):
            cells = (f"2025-10-26T{time}:00", *(f"{v:.5f}" for v in row))
            writer.writerow((*cells, *(["normal"] if labelled else [])))
    return path


def test_rows_back_in_time_are_refused_naming_the_option(tmp_path: Path) -> None:
    data = repeated_hour(tmp_path / "dst.csv")
    model = tmp_path / "m.pt"
    normal = write_csv(tmp_path / "normal.csv", metrics(100))
    fitted = runner.invoke(
        app, ["detect", "fit", "--csv", str(normal), "-o", str(model), "--model", "zscore"]
    )
    assert fitted.exit_code == 0, fitted.output
    for command in (
        ["fit", "--csv", str(data), "-o", str(tmp_path / "n.pt"), "--model", "zscore"],
        ["score", "--csv", str(data), "--model", str(model)],
    ):
        result = runner.invoke(app, ["detect", *command])
        assert result.exit_code == 2, result.output
        assert "dst.csv:26: column 'timestamp': '2025-10-26T02:00:00' is earlier" in result.output
        assert "--timestamps sort" in result.output and "drop-duplicates" in result.output
    for bad in (["--timestamps", "shuffle"], ["--timestamps", "sort", "--csv", str(tmp_path)]):
        result = runner.invoke(app, ["detect", "fit", "--csv", str(data), "-o", str(model), *bad])
        assert result.exit_code == 2, result.output
    bare = tmp_path / "bare.csv"
    bare.write_text("cpu\n1\n2\n")
    result = runner.invoke(
        app,
        ["detect", "fit", "--csv", str(bare), "-o", str(tmp_path / "n.pt"), "--timestamps", "sort"],
    )
    assert result.exit_code == 2 and "has no timestamp column" in result.output


def test_sorted_or_deduplicated_rows_are_counted_on_stderr_and_in_json(tmp_path: Path) -> None:
    data = repeated_hour(tmp_path / "dst.csv", labelled=True)
    model = tmp_path / "m.pt"
    fit = runner.invoke(
        app,
        ["detect", "fit", "--csv", str(data), "-o", str(model), "--model", "zscore",
         "--columns", "cpu,load,p99", "--timestamps", "drop-duplicates", "--json"],
    )  # fmt: skip
    assert fit.exit_code == 0, fit.output
    told = "dst.csv: --timestamps drop-duplicates: of 36 rows, 0 moved into time order and 12"
    assert told in fit.stderr and told not in fit.stdout
    report = json.loads(fit.stdout)
    assert report["rows"] == 24
    assert report["timestamps"] == {
        "rule": "drop-duplicates",
        "rows": 36,
        "moved": 0,
        "dropped": 12,
    }
    scored = runner.invoke(
        app,
        ["detect", "score", "--csv", str(data), "--model", str(model), "--timestamps", "sort",
         "--json"],
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    assert "--timestamps sort: of 36 rows, 22 moved into time order and 0 dropped" in scored.stderr
    result = json.loads(scored.stdout)
    assert result["timestamps"] == {"rule": "sort", "rows": 36, "moved": 22, "dropped": 0}
    assert result["windows"] == 36 - 10 + 1 and result["truth"] is not None
