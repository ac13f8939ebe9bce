"""`secmas ui` and the `--ui` option of `secmas demo` / `secmas run`: the web dashboard.

`secmas ui [--runs DIR] [--host H] [--port P]` serves every run under DIR (default
`runs/`): the page at /, the API under /api/, its schema at /openapi.json.
`--ui` serves the same app in a thread while the run goes on, its live page fed by a
step loop beside the agents (`secmas.ui.live`), and keeps serving once the run ended
(Ctrl-C stops it; `--ui-exit` stops once the live page got the run's last event).

The web stack (FastAPI, uvicorn) is imported only when a command needs it.
"""

from __future__ import annotations

import os
import time
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from secmas.cli.arguments import check_folder
from secmas.cli.output import BAD_INPUT, FAILED_RUN, console, fail, say

if TYPE_CHECKING:
    from secmas.ui.live import LiveHub, LiveRun
    from secmas.ui.server import Background

UIOption = Annotated[
    bool,
    typer.Option(
        "--ui",
        help="serve the live web page (as `secmas ui`) while the run goes on, paced by "
        "--speed, and after it until Ctrl-C",
    ),
]
UIPortOption = Annotated[
    int | None,
    typer.Option(
        "--ui-port",
        min=0,
        max=65535,
        metavar="PORT",
        help="with --ui: the page's port (default 8000, or a free one when 8000 is taken)",
    ),
]
UIExitOption = Annotated[
    bool,
    typer.Option(
        "--ui-exit",
        help="with --ui: stop serving when the run has ended and the live page has its "
        "last event (for scripts)",
    ),
]
UIHost = "127.0.0.1"
CLIENT_GRACE_S = 5.0
"""With --ui-exit: how long open live pages may take to read the last events."""
LINGER_S = 2.0
"""With --ui-exit: how long the app still serves once they have, so that a live page can
load the saved run."""


def register(app: typer.Typer) -> None:
    """Add `ui` to the `secmas` command."""
    app.command("ui")(ui)


def ui(
    runs: Annotated[
        Path,
        typer.Option("--runs", metavar="DIR", help="folder whose run folders are served"),
    ] = Path("runs"),
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="address to listen on")
    ] = UIHost,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=0,
            max=65535,
            metavar="PORT",
            help="port (default 8000, or a free one)",
        ),
    ] = None,
) -> None:
    """Serve the runs in a browser: topology and placements over time, auctions,
    attestation plan and ledger, traffic, alerts; the API under /api/ (schema at
    /openapi.json).

    Example: secmas ui --runs runs --port 8000"""
    if not runs.exists():
        raise fail(
            f"--runs {runs}: no such folder; a run writes under runs/ unless told --out, so "
            "run `secmas demo` first or name the folder that holds your runs"
        )
    check_folder(runs, "--runs")
    from secmas.ui.app import create_app
    from secmas.ui.runs import RunStore
    from secmas.ui.server import PortTaken, bind, serve, url_of

    try:
        sock = bind(host, port)
    except (PortTaken, OSError) as exc:
        raise fail(str(exc)) from None
    found = len(RunStore(runs).folders())
    say(f"serving {found} run(s) under {runs} at {url_of(sock)} (Ctrl-C stops)")
    serve(create_app(runs), sock)


class LiveView:
    """The web app in a thread beside one run, and the hub its live page reads."""

    def __init__(self, hub: LiveHub, served: Background, pace: float | None) -> None:
        self.hub = hub
        self.served = served
        self.pace = pace

    def observer(self, processes: bool) -> LiveRun:
        """What the run tells the live page."""
        from secmas.ui.live import LiveRun

        return LiveRun(self.hub, self.pace, processes)

    def close(self, keep_serving: bool) -> None:
        """The run is over (or stopped): tell the page, then serve until Ctrl-C or stop."""
        self.hub.end("failed", None, error="the run stopped before writing its report")
        try:
            if keep_serving:
                say(f"the run is over; still serving {self.served.url} (Ctrl-C stops)")
                while self.served.thread.is_alive():
                    self.served.thread.join(0.5)
            else:
                deadline = time.monotonic() + CLIENT_GRACE_S
                while self.hub.streams > 0 and time.monotonic() < deadline:
                    time.sleep(0.05)
                if self.hub.watched:
                    time.sleep(LINGER_S)
        except KeyboardInterrupt:
            pass
        finally:
            self.served.stop()


@contextmanager
def live_view(
    enabled: bool, out: Path | None, port: int | None, exit_after: bool, pace: float
) -> Iterator[LiveView | None]:
    """With `--ui`: the app served in a thread over the runs beside the run's folder
    (`--out`'s parent, or runs/), its address printed (and opened in a browser where
    there is a display); at the end, serving goes on until Ctrl-C unless `exit_after`."""
    if not enabled:
        yield None
        return
    from secmas.ui.app import create_app
    from secmas.ui.live import LiveHub
    from secmas.ui.server import PortTaken, bind, serve_in_thread

    runs = out.parent if out is not None else Path("runs")
    try:
        sock = bind(UIHost, port)
    except (PortTaken, OSError) as exc:
        raise fail(f"--ui-port: {exc}", BAD_INPUT) from None
    hub = LiveHub()
    try:
        served = serve_in_thread(create_app(runs, hub), sock)
    except RuntimeError as exc:
        raise fail(f"--ui: {exc}", FAILED_RUN) from None
    console.print(f"live page: {served.url}#live", highlight=False, soft_wrap=True)
    if (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and not os.environ.get(
        "CI"
    ):
        webbrowser.open(f"{served.url}#live")
    view = LiveView(hub, served, pace)
    interrupted = False
    try:
        yield view
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        view.close(keep_serving=not exit_after and not interrupted)
