"""`secmas dataplane clean`: remove what dead emulated runs left on this machine."""

from __future__ import annotations

import typer

from secmas.cli.arguments import JsonOption
from secmas.cli.grammar import Typer
from secmas.cli.output import console, fail, print_json

dataplane_app = Typer(help="The emulated data plane's objects on this machine.")


@dataplane_app.command("clean")
def clean(as_json: JsonOption = False) -> None:
    """Remove the namespaces' processes, interfaces, bridges and records that emulated
    runs which died (crash, SIGKILL) left behind, as `mn -c` does — only what secmas
    created and recorded; live runs are left alone.

    Example: sudo secmas dataplane clean"""
    import os

    if os.geteuid() != 0:
        raise fail("secmas dataplane clean needs root (it deletes interfaces)")
    from secmas.network.emulation.registry import clean_dead_runs, live_runs

    cleaned = clean_dead_runs()
    live = live_runs()
    if as_json:
        print_json(
            {
                "cleaned": [
                    {
                        "run": run.prefix,
                        "processes": run.processes,
                        "interfaces": list(run.interfaces),
                    }
                    for run in cleaned
                ],
                "live": list(live),
            }
        )
        return
    for run in cleaned:
        console.print(
            f"run {run.prefix}: {run.processes} processes killed, "
            f"{len(run.interfaces)} interfaces deleted"
        )
    console.print(
        f"{len(cleaned)} dead runs cleaned"
        + (f"; {len(live)} live runs left alone: {', '.join(live)}" if live else "")
    )


def register(app: typer.Typer) -> None:
    """Add `secmas dataplane` to the command line."""
    app.add_typer(dataplane_app, name="dataplane")
