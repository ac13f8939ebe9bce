"""One grammar for every `secmas` command (the rules are in `secmas.cli.main`'s
docstring): the whole command tree is walked and each command checked, so that a new
command or option that breaks a rule fails here. Also: `secmas --help` and argument errors
load nothing heavy, the constants the help repeats match their owners, and `--json`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer import _click
from typer.testing import CliRunner

from secmas.cli.main import app, default_scenario_path

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

PATH_METAVARS = {"FILE", "DIR"}
"""What an option taking a path shows."""
SECONDARY_OUTPUTS = {"--report", "--decisions"}
"""Files a command writes beside its `--out`, named for what they hold."""
NO_JSON = {
    "agent": "a long-running process; it logs",
    "ledger serve": "a long-running server",
    "ui": "a long-running server",
    "schema": "prints a JSON Schema already",
    "scenario init": "writes a commented file for a person to edit",
}
"""Commands without `--json`, and why."""
PROGRESS = {"run", "demo", "sweep", "detect fit", "detect train", "detect dataset"}
"""Commands that show progress, so take `-q/--quiet`."""
HEAVY = ("torch", "sklearn", "eth", "secmas.api", "secmas.pipeline", "secmas.ledger", "secmas.ui")
HELP_HEAVY = (*HEAVY, "numpy", "asyncio", "cryptography", "matplotlib", "pydantic", "yaml")
"""What `secmas --help` does without: each costs it tens of milliseconds."""


def commands() -> Iterator[tuple[str, Any, Any]]:
    """(path, command, context) of every command under `secmas`, groups left out."""

    def walk(command: Any, path: list[str], parent: Any) -> Iterator[tuple[str, Any, Any]]:
        context = _click.Context(command, info_name=path[-1], parent=parent)
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            yield " ".join(path[1:]), command, context
            return
        for name, sub in subcommands.items():
            yield from walk(sub, [*path, name], context)

    yield from walk(typer.main.get_command(app), ["secmas"], None)


COMMANDS = sorted(path for path, _command, _context in commands())


def command(path: str) -> tuple[Any, Any]:
    for name, found, context in commands():
        if name == path:
            return found, context
    raise KeyError(path)


def options(found: Any) -> list[Any]:
    return [p for p in found.params if p.param_type_name == "option" and not p.hidden]


def takes_value(option: Any) -> bool:
    return not option.is_flag and not option.count


def test_the_tree_holds_every_command() -> None:
    assert {"run", "demo", "audit verify", "cti share", "detect fit", "scenario validate"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("path", COMMANDS)
def test_every_command_has_an_example_of_itself(path: str) -> None:
    found, _ = command(path)
    text = found.help or ""
    assert "Example" in text, f"secmas {path}: no Example in its help"
    example = text[text.index("Example") :]
    assert f"secmas {path}" in " ".join(example.split()), f"secmas {path}: {example!r}"
    shown = runner.invoke(app, [*path.split(), "--help"], terminal_width=100)
    assert shown.exit_code == 0 and "Example" in shown.output


@pytest.mark.parametrize("path", COMMANDS)
def test_every_value_has_a_metavar_and_paths_say_file_or_dir(path: str) -> None:
    found, _ = command(path)
    for option in options(found):
        if not takes_value(option):
            continue
        name = option.opts[0]
        assert option.metavar, f"secmas {path} {name}: no metavar (typer would show <type>)"
        assert "<" not in option.metavar and ">" not in option.metavar, option.metavar
        if option.type_descriptor.is_path:
            assert option.metavar in PATH_METAVARS, f"secmas {path} {name} {option.metavar}"
        if "://" in (option.help or "") and not option.type_descriptor.is_path:
            assert "URL" in option.metavar or name == "--detector", f"secmas {path} {name}"
    for argument in (p for p in found.params if p.param_type_name == "argument"):
        assert argument.metavar and argument.metavar.rstrip(".").isupper(), (
            f"secmas {path} {argument.name}: argument without an upper-case metavar"
        )


@pytest.mark.parametrize("path", COMMANDS)
def test_no_metavar_in_angle_brackets_in_the_help(path: str) -> None:
    shown = runner.invoke(app, [*path.split(), "--help"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    usage_and_rows = [
        line.split("  ")[0] if line.startswith("  ") else line
        for line in shown.output.splitlines()
        if line.startswith(("Usage:", "  -", "  ")) and not line.startswith("      ")
    ]
    for line in usage_and_rows:
        assert not re.search(r"<(str|path|int|float|list|bool)", line), f"secmas {path}: {line}"
        assert not re.search(r" <[^>]+>$", line.strip()), f"secmas {path}: {line}"


@pytest.mark.parametrize("path", COMMANDS)
def test_the_file_or_folder_a_command_writes_is_out(path: str) -> None:
    found, _ = command(path)
    for option in options(found):
        names = set(option.opts) | set(option.secondary_opts)
        assert not names & {"--output", "--outdir", "--output-dir", "--xml"}, names
        if "-o" in names or "--out" in names:
            assert set(option.opts) == {"--out", "-o"}, f"secmas {path}: {option.opts}"
            continue
        writes = re.search(r"\bwrite\b|\bto write\b|\boutput\b|^folder for", option.help or "")
        if takes_value(option) and writes:
            assert names & SECONDARY_OUTPUTS, f"secmas {path} {names}: an output not named --out"


@pytest.mark.parametrize("path", COMMANDS)
def test_a_scenario_file_is_the_positional_scenario(path: str) -> None:
    found, _ = command(path)
    for param in found.params:
        if param.name != "scenario":
            continue
        if path == "demo":  # picks an embedded scenario by name
            assert param.opts == ["--scenario"] and param.metavar == "NAME"
        else:
            assert param.param_type_name == "argument" and param.metavar == "SCENARIO", path


@pytest.mark.parametrize("path", COMMANDS)
def test_reporting_commands_take_json_and_progress_takes_quiet(path: str) -> None:
    found, _ = command(path)
    names = {name for option in options(found) for name in option.opts}
    assert ("--json" in names) != (path in NO_JSON), f"secmas {path}: --json"
    if path in PROGRESS:
        assert {"--quiet", "-q"} <= names, f"secmas {path}: no -q/--quiet"
    if "--quiet" in names:
        assert "-q" in names


# -- nothing heavy before the work -------------------------------------------------------


def loaded_after(script: str, *args: str) -> tuple[Any, list[str]]:
    """What `script` printed last (JSON) and the heavy modules loaded, in a new process."""
    probe = (
        script
        + "\nimport sys, json\n"
        + f"heavy = sorted({{m for m in sys.modules for h in {HEAVY!r} "
        + "if m == h or m.startswith(h + '.')})\n"
        + "print(json.dumps([result, heavy]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
    )
    result, heavy = json.loads(done.stdout.splitlines()[-1])
    return result, heavy


def test_importing_the_command_line_and_building_its_help_loads_nothing_heavy() -> None:
    script = (
        "import typer.main\n"
        "from typer.testing import CliRunner\n"
        "from secmas.cli.main import app\n"
        "typer.main.get_command(app)\n"
        "result = CliRunner().invoke(app, ['--help']).exit_code\n"
    )
    code, heavy = loaded_after(script)
    assert code == 0 and heavy == []


def test_secmas_help_runs_without_the_runtime() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "secmas", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0 and "Commands:" in done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()}
    assert not {m for m in imported for h in HELP_HEAVY if m == h or m.startswith(h + ".")}


def test_argument_errors_are_reported_before_anything_heavy_loads(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header = tmp_path / "header.csv"
    header.write_text("cpu,load\n")
    reference = str(default_scenario_path())
    none = str(tmp_path / "none.yaml")
    refused = [
        ["detect", "fit", "--csv", str(empty), "-o", str(tmp_path / "m.pt")],
        ["detect", "fit", "--csv", str(header), "-o", str(tmp_path / "m.pt")],
        ["detect", "fit", "--csv", str(header), "-o", str(tmp_path / "m.pt"), "--model", "x"],
        ["detect", "train", none, "-o", str(tmp_path / "m.pt")],
        ["detect", "dataset", none, "-o", str(tmp_path / "d.csv")],
        ["run", none],
        ["run", reference, "--out", ""],
        ["run", reference, "--bus", "nats://127.0.0.1:1"],
        ["run", reference, "--policy", none],
        ["run", reference, "--dataplane", "ns3"],
        ["run", reference, "--ui-exit"],
        ["run", reference, "--seed", "-1"],
        ["demo", "--scenario", "nope"],
        ["deploy", "kubernetes", none, "-o", str(tmp_path / "k8s")],
        ["bus", "keys", none, "-o", str(tmp_path / "keys")],
        ["agent", "--pop", "pop1", "--bus", "nats://127.0.0.1:1", none],
        ["sweep", none],
        ["audit", "verify", str(tmp_path / "none.jsonl")],
        ["ui", "--runs", str(empty)],
    ]
    script = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from secmas.cli.main import app\n"
        "result = [CliRunner().invoke(app, argv).exit_code for argv in json.loads(sys.argv[1])]\n"
    )
    codes, heavy = loaded_after(script, json.dumps(refused))
    assert codes == [2] * len(refused), list(zip(codes, refused, strict=True))
    assert heavy == []


def test_the_constants_the_help_repeats_are_their_owners() -> None:
    import importlib

    from secmas import api
    from secmas.api import defence, scenarios
    from secmas.cli import arguments, audit, bus, grammar
    from secmas.pipeline import iml
    from secmas.policy import audit as policy_audit
    from secmas.report import folder
    from secmas.scenario import model

    assert grammar.EMBEDDED == api.EMBEDDED
    assert grammar.SPEED == importlib.import_module("secmas.api.placement").SPEED
    assert grammar.ENGINES == scenarios.ENGINES
    assert grammar.TAXII_PASSWORD_VARIABLE == defence.PASSWORD_VARIABLE
    assert grammar.TAXII_USER_VARIABLE == defence.USER_VARIABLE
    assert grammar.CTI_KEYS_VARIABLE == defence.KEYS_VARIABLE
    assert arguments.MAX_SEED == model.MAX_SEED
    assert audit.ANCHORS_FILE == policy_audit.ANCHORS_FILE
    assert audit.GENESIS == policy_audit.GENESIS
    assert folder.AUDIT_LOG == policy_audit.AUDIT_FILE
    assert bus.BUS_AUTH_ENV == iml.BUS_AUTH_ENV


def test_arguments_show_their_metavar_alone() -> None:
    shown = runner.invoke(app, ["run", "--help"], terminal_width=120)
    assert "Usage: secmas run [OPTIONS] {SCENARIO}" in shown.output
    assert "\n  SCENARIO  scenario YAML file" in shown.output
    assert "-o, --out DIR" in shown.output


def test_run_and_demo_take_the_same_run_options_in_the_same_order() -> None:
    """One definition (`secmas.cli.runoptions`): the run options are the same objects'
    names, help and order in both commands; each has only its own way of naming the
    scenario (and demo the real CNF's options) before them."""

    def run_options(path: str) -> list[tuple[tuple[str, ...], str | None]]:
        found, _context = command(path)
        listed = [(tuple(o.opts), o.help) for o in options(found)]
        start = next(i for i, (names, _help) in enumerate(listed) if "--out" in names)
        return listed[start:]

    shared = run_options("run")
    assert shared == run_options("demo")
    names = {name for option_names, _help in shared for name in option_names}
    assert {"--seed", "--pods", "--hosts", "--processes", "--mlfo-key", "--json"} <= names


# -- one name per concept --------------------------------------------------------------

OVERWRITES = re.compile(r"\b(replac\w*|overwrit\w*|write over|again)\b")
"""What the help of a flag that overwrites says."""
KEY_OPTION = re.compile(r"^--(?:trusted-key|(?:[a-z]+-)?(?:key|keys|ca))$")
"""`--key`, `--<role>-key`, `--trusted-key`, `--keys`, `--<role>-keys`, `--<role>-ca`."""
KEY_METAVARS = {"key": {"FILE"}, "keys": {"DIR", "FILE"}, "ca": {"FILE"}}
"""What each kind of key option takes (`--trusted-key`: a KEY, hex digits or a file)."""
KEY_MATERIAL = re.compile(r"\bnkey\b|\bprivate key|\bpublic key|\bPEM\b|\bseed file|\bJWK\b")
"""What the help of an option that names key material says."""


@pytest.mark.parametrize("path", COMMANDS)
def test_overwriting_is_force(path: str) -> None:
    found, _ = command(path)
    for option in options(found):
        names = set(option.opts)
        assert not names & {"--replace", "--rebuild", "--overwrite", "--clobber"}, path
        if not takes_value(option) and OVERWRITES.search(option.help or ""):
            assert option.opts == ["--force"], f"secmas {path} {option.opts}: overwrites"


@pytest.mark.parametrize("path", COMMANDS)
def test_key_files_have_one_name_per_role(path: str) -> None:
    found, _ = command(path)
    for option in options(found):
        name = option.opts[0]
        if not ("key" in name or name.endswith("-ca") or KEY_MATERIAL.search(option.help or "")):
            continue
        assert KEY_OPTION.match(name), f"secmas {path} {name}: not a key option's name"
        if name == "--trusted-key":
            assert option.metavar == "KEY", f"secmas {path} {name} {option.metavar}"
        else:
            kind = name.rsplit("-", 1)[-1]
            assert option.metavar in KEY_METAVARS[kind], f"secmas {path} {name}"


def test_the_key_options_are_the_documented_ones() -> None:
    found = {o.opts[0] for _path, c, _ctx in commands() for o in options(c)}
    keys = {name for name in found if KEY_OPTION.match(name)}
    assert keys == {
        "--key", "--trusted-key", "--mlfo-key", "--secaas-key", "--bus-key", "--keys",
        "--bus-keys", "--bus-ca", "--ledger-ca",
    }  # fmt: skip
    rules = (ROOT / "src/secmas/cli/main.py").read_text(encoding="utf-8")
    assert all(f"`{name}" in rules or f"{name}`" in rules for name in keys)


def test_secmas_help_lists_the_commands_by_use() -> None:
    shown = runner.invoke(app, ["--help"], terminal_width=120)
    rows = shown.output.split("Commands:\n", 1)[1].splitlines()
    listed = [row.split()[0] for row in rows if row.startswith("  ") and row.strip()]
    assert listed == [
        "demo", "run", "scenario", "ui", "detect", "policy", "audit", "cti", "sweep", "agent",
        "bus", "ledger", "deploy", "image", "dataplane", "wrap", "verify", "schema",
    ]  # fmt: skip


def test_run_and_demo_differ_only_in_what_the_other_cannot_use() -> None:
    def names(path: str) -> set[str]:
        found, _ = command(path)
        return {name for option in options(found) for name in option.opts}

    assert names("demo") - names("run") == {
        "--scenario",
        "--detector",
        "--recording",
        "--channels",
        "--attack-seed",
    }
    assert names("run") - names("demo") == set()


# -- errors, one way ---------------------------------------------------------------------


def error_lines(argv: list[str]) -> tuple[int, list[str]]:
    """The exit code of `secmas argv` run as a user runs it, and its stderr's lines that
    tell an error (any line with 'error' in any case)."""
    done = subprocess.run(
        [sys.executable, "-m", "secmas", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    said = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    return done.returncode, said


@pytest.mark.parametrize(
    ("argv", "told"),
    [
        (["run", str(default_scenario_path()), "--bogus"], "error: No such option: --bogus"),
        (["run"], "error: Missing argument 'SCENARIO'"),
        (["run", "none.yaml"], "error: none.yaml: (top level): cannot read file"),
        (["run", str(default_scenario_path()), "--seed", "x"], "error: Invalid value for '--seed'"),
        (["nope"], "error: No such command 'nope'"),
    ],
    ids=["unknown-option", "missing-argument", "our-bad-input", "bad-value", "unknown-command"],
)
def test_every_error_reads_error_colon_on_stderr_with_exit_2(argv: list[str], told: str) -> None:
    code, said = error_lines(argv)
    assert code == 2 and len(said) == 1 and said[0].startswith(told), said


def test_a_subcommands_usage_error_reads_the_same(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", "verify", str(tmp_path / "a.jsonl"), "--notary", "x"])
    assert result.exit_code == 2
    assert "error: No such option: --notary" in result.output and "Error:" not in result.output


# -- input folders -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["ui", "--runs", "{none}"],
        ["run", "{scenario}", "--processes", "--pods", "{none}"],
        ["run", "{scenario}", "--processes", "--bus", "nats://127.0.0.1:1", "--bus-keys", "{none}"],
        ["image", "build", "--source", "{none}"],
    ],
    ids=["runs", "pods", "bus-keys", "source"],
)
def test_an_input_folder_that_does_not_exist_exits_2_naming_it(
    argv: list[str], tmp_path: Path
) -> None:
    none = tmp_path / "none"
    given = [a.format(none=none, scenario=default_scenario_path()) for a in argv]
    result = runner.invoke(app, given)
    option = argv[argv.index("{none}") - 1]
    assert result.exit_code == 2
    assert f"error: {option} {none}: no such folder" in result.output, result.output


# -- outputs are never silently written over ---------------------------------------------

CTI_SHARE = ["cti", "share", "{input}", "--sensitivity", "{input}", "--necessity", "{input}"]
WRITERS = {
    "schema": ["schema", "scenario", "-o", "{file}"],
    "scenario init": ["scenario", "init", "--out", "{file}"],
    "scenario from-topology": ["scenario", "from-topology", "sndlib/abilene", "-o", "{file}"],
    "detect fit": ["detect", "fit", "--csv", "{input}", "-o", "{file}"],
    "detect fit --report": [
        "detect",
        "fit",
        "--csv",
        "{input}",
        "-o",
        "{new}",
        "--report",
        "{file}",
    ],
    "detect score": ["detect", "score", "--csv", "{input}", "--model", "{input}", "-o", "{file}"],
    "detect train": ["detect", "train", "{scenario}", "-o", "{file}"],
    "detect dataset": ["detect", "dataset", "{scenario}", "-o", "{file}"],
    "cti share": [*CTI_SHARE, "-o", "{file}"],
    "cti share --decisions": [*CTI_SHARE, "--decisions", "{file}"],
    "wrap": ["wrap", "{input}", "-o", "{file}"],
    "policy check": ["policy", "check", "{input}", "-o", "{folder}"],
    "bus keys": ["bus", "keys", "{scenario}", "-o", "{folder}"],
    "bus certs": ["bus", "certs", "-o", "{folder}", "--server", "n1", "--host", "127.0.0.1"],
    "deploy kubernetes": ["deploy", "kubernetes", "{scenario}", "--out", "{folder}"],
    "run": ["run", "{scenario}", "--out", "{folder}"],
    "ledger serve": ["ledger", "serve", "--port", "0", "-o", "{folder}"],
}
"""A command line of every command that writes files, its output already there."""
OWN_RULE = {
    "sweep": "a folder of results goes on with --resume, or is refused",
    "image build": "its manifest is the image's, rewritten with it; --force builds again",
    "demo": "the same --out and --force as run, declared once",
}
"""Commands with an --out that keep a rule of their own, and why."""


def test_every_command_that_writes_has_its_refusal_tested() -> None:
    writing = {path for path, found, _ in commands() if "--out" in _names(found)}
    assert writing - OWN_RULE.keys() == {case.split(" --")[0] for case in WRITERS}
    for path, found, _ in commands():
        if path in {case.split(" --")[0] for case in WRITERS}:
            assert "--force" in _names(found), path


def _names(command: Any) -> set[str]:
    return {name for option in options(command) for name in option.opts}


@pytest.mark.parametrize("case", sorted(WRITERS))
def test_an_existing_output_is_kept_without_force(case: str, tmp_path: Path) -> None:
    """Before any work, and with what was there untouched: a model trained for an hour or
    a folder of keys is not lost to a repeated command."""
    earlier = tmp_path / "earlier"
    earlier.write_text("earlier work\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "kept.txt").write_text("earlier work\n")
    values = {
        "file": earlier,
        "folder": folder,
        "new": tmp_path / "new",
        "input": tmp_path / "input",
        "scenario": default_scenario_path(),
    }
    values["input"].write_text("x\n")
    result = runner.invoke(app, [a.format(**values) for a in WRITERS[case]])
    assert result.exit_code == 2, result.output
    (said,) = [x for x in result.output.splitlines() if x.startswith("error: ")]
    assert "add --force" in said and str(earlier if "{file}" in WRITERS[case] else folder) in said
    assert earlier.read_text() == "earlier work\n"
    assert [p.name for p in folder.iterdir()] == ["kept.txt"]
    assert not values["new"].exists()


def test_force_writes_over_an_existing_output(tmp_path: Path) -> None:
    out = tmp_path / "scenario.schema.json"
    out.write_text("earlier work\n")
    result = runner.invoke(app, ["schema", "scenario", "-o", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["title"]
