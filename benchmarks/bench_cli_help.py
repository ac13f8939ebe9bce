"""How long `secmas --help` and `secmas <group> --help` take, cold (target: under 0.5 s).

Each command runs N times in a fresh Python process (`python -m secmas …`, what the console
script runs), one after the other, and the median, minimum and maximum wall times are
kept; the first run of each is not thrown away (every run is a new process, and the files
are in the page cache after the first command of all). Two floors are timed the same way:
`python -c pass` (the interpreter) and `python -c "import typer, rich.console"` (the
libraries the command line is built on), and the modules `secmas --help` loaded are
checked for the heavy ones (the application layer, the runtime, torch, py-evm).

`secmas <group> --help` takes about 0.1 s more than `secmas --help`: to run a group, typer
first converts the values of the options before it (`--version`, `--help`), and builds a
pydantic TypeAdapter to do so, which imports pydantic. The command line itself imports the
same light modules either way.

`--src DIR` puts another source tree first on PYTHONPATH (e.g. an export of an older
commit: `git archive HEAD src | tar -x -C /tmp/before`), to compare with it on the same
machine and the same installed packages; its results go to `cli_help-<label>.json`.

Times are wall clock on a shared machine: the load averages before and after the run are
recorded beside them.

    python benchmarks/bench_cli_help.py [--runs N] [--src DIR --label NAME]

Writes benchmarks/results/cli_help.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from machine import describe

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TARGET_S = 0.5
"""What `secmas --help` must take at most."""
HEAVY = ("torch", "eth", "secmas.api", "secmas.pipeline", "secmas.ledger", "secmas.ui")
"""Modules that `secmas --help` must not load."""
LOADED = (
    "import runpy, sys\n"
    "sys.argv = ['secmas', '--help']\n"
    "try:\n"
    "    runpy.run_module('secmas', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "print('\\n' + ' '.join(sorted(sys.modules)), file=sys.stderr)\n"
)


def environment(src: Path | None) -> dict[str, str]:
    """The environment of every timed process: PYTHONPATH led by `src` when given."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    return env


def timed(argv: list[str], runs: int, env: dict[str, str]) -> dict[str, Any]:
    """Wall seconds of `runs` fresh processes of `argv`: median, minimum, maximum, all."""
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, cwd=ROOT)
        seconds.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-500:]!r}")
    return {
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
        "runs_s": seconds,
    }


def groups(env: dict[str, str]) -> list[str]:
    """The command groups of `secmas` (asked of the tree under test, in a subprocess)."""
    listing = (
        "import typer.main\n"
        "from secmas.cli.main import app\n"
        "root = typer.main.get_command(app)\n"
        "print(' '.join(n for n, c in root.commands.items() if hasattr(c, 'commands')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", listing], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def heavy_modules(env: dict[str, str]) -> list[str]:
    """The modules of `HEAVY` (or under them) that `secmas --help` loaded."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED], env=env, capture_output=True, text=True, check=True
    )
    loaded = done.stderr.strip().splitlines()[-1].split()
    return sorted({h for h in HEAVY for m in loaded if m == h or m.startswith(h + ".")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="processes per command (median)")
    parser.add_argument("--src", type=Path, help="a source tree to put first on PYTHONPATH")
    parser.add_argument("--label", default=None, help="with --src: the results file's suffix")
    args = parser.parse_args()
    env = environment(args.src)
    secmas = [sys.executable, "-m", "secmas"]
    load_before = os.getloadavg()
    commands: dict[str, list[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import typer, rich.console": [sys.executable, "-c", "import typer, rich.console"],
        "secmas --help": [*secmas, "--help"],
    }
    for group in groups(env):
        commands[f"secmas {group} --help"] = [*secmas, group, "--help"]
    for command in ("run", "demo"):
        commands[f"secmas {command} --help"] = [*secmas, command, "--help"]
    rows = {}
    for name, argv in commands.items():
        rows[name] = timed(argv, args.runs, env)
        print(f"{name:36} median {rows[name]['median_s']:.3f} s", flush=True)
    help_s = rows["secmas --help"]["median_s"]
    slowest = max(
        (name for name in rows if name.startswith("secmas")), key=lambda n: rows[n]["median_s"]
    )
    heavy = heavy_modules(env)
    print(f"secmas --help: {help_s:.3f} s (target {TARGET_S} s); heavy modules loaded: {heavy}")
    out = {
        "machine": describe(
            ["typer", "rich"],
            load_average_before=load_before,
            load_average_after=os.getloadavg(),
        ),
        "source": str(args.src or ROOT / "src"),
        "runs": args.runs,
        "target_s": TARGET_S,
        "help_median_s": help_s,
        "within_target": help_s < TARGET_S,
        "slowest": {"command": slowest, "median_s": rows[slowest]["median_s"]},
        "heavy_modules_loaded": heavy,
        "commands": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = f"-{args.label}" if args.label else ("-src" if args.src else "")
    path = RESULTS / f"cli_help{suffix}.json"
    path.write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
