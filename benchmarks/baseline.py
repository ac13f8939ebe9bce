"""Side-by-side runs of one benchmark on the baseline's sources and on this tree's.

The developers' guide asks benchmarks to compare, in one run, against a baseline: here
commit `dad9f6d`, the code before the speed-ups these benchmarks measure. Its `src` is
exported once with `git archive` into the temp directory, and the benchmark script runs
itself in a subprocess with `PYTHONPATH` pointing at those sources, then at this tree's,
in turn (`rounds` times, interleaved, so that a noisy machine slows both sides alike);
each subprocess prints its rows as JSON on its last line.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

BASELINE = "dad9f6d"
ROOT = Path(__file__).resolve().parents[1]
SIDES = ("baseline", "new")


def baseline_src(commit: str = BASELINE) -> Path:
    """The `src` folder of `commit`, exported once into the temp directory."""
    folder = Path(tempfile.gettempdir()) / f"secmas-{commit}"
    if not (folder / "src" / "secmas").is_dir():
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, "src"],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
    return folder / "src"


def one_side(script: Path, args: Sequence[str], src: Path) -> list[dict[str, Any]]:
    """Run `script --one-side ARGS` on the sources in `src`: the rows it printed."""
    env = os.environ | {"PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, str(script), "--one-side", *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def side_by_side(
    script: Path, args: Sequence[str], rounds: int
) -> dict[str, list[list[dict[str, Any]]]]:
    """Each round, the baseline's run then this tree's: {side: [rows of each round]}."""
    sources = {"baseline": baseline_src(), "new": ROOT / "src"}
    runs: dict[str, list[list[dict[str, Any]]]] = {side: [] for side in SIDES}
    for round_ in range(rounds):
        for side in SIDES:
            print(f"round {round_ + 1}/{rounds}: {side}", file=sys.stderr, flush=True)
            runs[side].append(one_side(script, args, sources[side]))
    return runs


def merged(
    runs: dict[str, list[list[dict[str, Any]]]], key: str, metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per `key` value: each metric's median over the rounds, per side, and the
    speed-up (baseline / new)."""
    rows: list[dict[str, Any]] = []
    keys = [row[key] for row in runs["new"][0]]
    for value in keys:
        row: dict[str, Any] = {key: value}
        for side in SIDES:
            same = [r for rounds in runs[side] for r in rounds if r[key] == value]
            row[side] = {m: statistics.median(r[m] for r in same) for m in metrics} | {
                k: v for k, v in same[0].items() if k not in metrics
            }
        row["speedup"] = {
            m: row["baseline"][m] / row["new"][m] for m in metrics if row["new"][m] > 0
        }
        rows.append(row)
    return rows


def growth_exponent(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log y against log x: y ∝ x^slope."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum(
        (a - mx) ** 2 for a in lx
    )


def save_log_log(fig: Any, ax: Any, xlabel: str, ylabel: str, path: Path) -> None:
    """Finish a side-by-side plot on log–log axes (growth exponents read as slopes)."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def save_figure(fig: Any, path: Path) -> None:
    """Lay `fig` out, write it to `path` (120 dpi) and free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def matching(runs: Sequence[dict[str, Any]], **fields: Any) -> list[dict[str, Any]]:
    """The `runs` whose `fields` have the values given (one case of a side-by-side run)."""
    return [r for r in runs if all(r.get(k) == v for k, v in fields.items())]


def labelled_bars(
    axis: Any, offset: float, values: Sequence[float], width: float, label: str, colour: str
) -> None:
    """One series of a grouped bar chart at `offset` from each group's centre, each bar
    labelled with its value."""
    bars = axis.bar(
        [x + offset for x in range(len(values))], values, width, label=label, color=colour
    )
    axis.bar_label(bars, fmt="%.1f", fontsize=7)


INTERLEAVED = (
    "baseline and new interleaved round by round in subprocesses; on a shared "
    "machine the absolute figures are noisy, the ratio less so"
)
"""How the side-by-side figures were taken (every result JSON says so)."""


def write_results(
    results: Path,
    name: str,
    result: dict[str, Any],
    plot: Callable[[list[dict[str, Any]], Path], None],
) -> None:
    """Write `name`.json and its plot `name`.png under `results`, and say where."""
    results.mkdir(parents=True, exist_ok=True)
    data, image = results / f"{name}.json", results / f"{name}.png"
    data.write_text(json.dumps(result, indent=2) + "\n")
    plot(result["rows"], image)
    print(f"wrote {data} and {image}", file=sys.stderr)
