"""`secmas sweep`: run a grid of scenarios × seeds × parameters with repetitions, in
parallel, one CSV row per run, then the means with 95 % confidence intervals, plotted.

Exit codes: 0 every run finished, 1 a run failed (each failed run is a row with its
error; the sweep goes on), 2 bad input (a spec, a scenario value, an output folder that
holds another sweep), never with a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from secmas.cli.arguments import JsonOption, QuietOption, check_readable
from secmas.cli.output import (
    BAD_INPUT,
    FAILED_RUN,
    error,
    json_mode,
    print_json,
    progress_console,
    say,
    set_quiet,
    warn,
)

if TYPE_CHECKING:
    from secmas.experiment.spec import SpecError

INTERRUPTED = 130
"""Exit code after Ctrl-C, as a shell gives a command stopped by SIGINT."""


def register(app: typer.Typer) -> None:
    """Add `sweep` to the `secmas` command."""
    app.command("sweep")(sweep)


def sweep(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help="sweep spec (YAML)")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="DIR", help="output folder (default sweeps/<name>)"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            metavar="N",
            help="worker processes (default: cores, at most the runs)",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="go on with the runs not yet in the folder's CSV")
    ] = False,
    keep_runs: Annotated[
        bool, typer.Option("--keep-runs", help="keep every run's folder (report.json, …)")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check the spec and every point, run nothing")
    ] = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run a sweep spec: every scenario × parameter value × seed × repetition.

    Writes <out>/sweep-<name>.csv (a row per run, appended as runs finish), a summary CSV
    (mean, standard deviation and 95 % confidence interval per point) and the plots.

    Example: secmas sweep benchmarks/sweeps/fig5_5.yaml -o sweeps/fig5_5
    """
    set_quiet(quiet)
    check_readable(spec)
    with json_mode(as_json):
        _sweep(spec, out, workers, resume, keep_runs, dry_run, as_json)


def _sweep(
    spec: Path,
    out: Path | None,
    workers: int | None,
    resume: bool,
    keep_runs: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    # the runtime (the application layer, py-evm, matplotlib) loads here, not for every command
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from secmas.experiment.runner import SweepRefused, run_sweep
    from secmas.experiment.scenarios import point_scenarios
    from secmas.experiment.spec import SpecError, load_spec

    try:
        loaded = load_spec(spec)
        checked = len(point_scenarios(loaded)) if dry_run else 0
    except SpecError as exc:
        raise _refused(exc) from None
    folder = out or Path("sweeps") / loaded.spec.name
    if dry_run:
        if as_json:
            print_json({"runs": loaded.spec.runs, "points": checked, "folder": folder})
            return
        say(f"{loaded.spec.runs} runs over {checked} checked points; results to {folder}")
        return
    with Progress(
        TextColumn("runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=progress_console(),
    ) as bar:
        task = bar.add_task("sweep", total=None, failed=0)

        def started(total: int, skipped: int) -> None:
            bar.update(task, total=total, completed=skipped)
            if skipped:
                say(f"resuming: {skipped} of {total} runs already in the CSV")

        def finished(row: dict[str, Any]) -> None:
            failed = bar.tasks[0].fields["failed"] + (1 if row.get("error") else 0)
            bar.update(task, advance=1, failed=failed)
            if row.get("error"):
                warn(f"run {row['run']} failed: {row['error']}")

        try:
            outcome = run_sweep(
                loaded,
                folder,
                workers=workers,
                resume=resume,
                keep_runs=keep_runs,
                started=started,
                finished=finished,
            )
        except SpecError as exc:
            raise _refused(exc) from None
        except (SweepRefused, OSError) as exc:
            error(str(exc))
            raise typer.Exit(BAD_INPUT) from None
        except KeyboardInterrupt:
            error(f"interrupted: the finished runs are in {folder}; --resume goes on with them")
            raise typer.Exit(INTERRUPTED) from None
    per_run = outcome.wall_seconds / outcome.ran if outcome.ran else 0.0
    if as_json:
        print_json(
            {
                "folder": folder,
                "total": outcome.total,
                "ran": outcome.ran,
                "skipped": outcome.skipped,
                "failed": outcome.failed,
                "wall_seconds": outcome.wall_seconds,
                "files": outcome.files,
            }
        )
        if outcome.failed:
            error(f"{outcome.failed} runs failed: their rows hold the error")
            raise typer.Exit(FAILED_RUN)
        return
    say(
        f"{outcome.ran} runs in {outcome.wall_seconds:.1f} s ({per_run:.2f} s per run), "
        f"{outcome.skipped} already done, {outcome.failed} failed of {outcome.total}"
    )
    say("files: " + ", ".join(str(p) for p in outcome.files))
    if outcome.failed:
        error(f"{outcome.failed} runs failed: their rows hold the error")
        raise typer.Exit(FAILED_RUN)


def _refused(exc: SpecError) -> typer.Exit:
    """Print every problem of a spec; the exit for bad input."""
    for problem in exc.problems:
        error(str(problem))
    return typer.Exit(BAD_INPUT)
