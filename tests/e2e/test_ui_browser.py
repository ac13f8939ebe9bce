"""The web page in a real browser: Debian's Chromium, headless, driven by Playwright.

The first test serves the session's finished runs and checks that the topology, the
auction table and the attestation steps render with the run's data (and follow the time
slider); the second starts `secmas demo --ui`, watches the live page until the run is
saved, then stops it with Ctrl-C; the third, in one page 800 px wide, checks every newer
view (CTI hygiene and MTD moves of a run in a folder with a space in its name, SSLA terms
over time, CNF metrics, a 200-PoP topology zoomed and panned), then that an unreadable run
clears the page and says why, and that a late answer for a run left behind is dropped.
Screenshots go under the test's tmp_path; with SECMAS_SCREENSHOTS=DIR set, copies go to
DIR too (benchmarks/results/ holds the committed ones), so a test run never changes the
working tree.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.ui.demo_runs import make_runs

from secmas.listenport import free_port
from secmas.ui.app import create_app
from secmas.ui.server import Background, bind, serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = os.environ.get("SECMAS_SCREENSHOTS")

if not CHROMIUM.exists():
    pytest.skip(
        "Chromium is not installed at /usr/bin/chromium (apt-get install chromium; "
        "scripts/setup --test installs it)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    page.problems = problems
    yield page
    page.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Background, Path]]:
    runs = make_runs(tmp_path_factory)
    background = serve_in_thread(create_app(runs), bind("127.0.0.1", 0))
    yield background, runs
    background.stop()


def save(page: Any, path: Path, name: str, selector: str | None = None) -> Path:
    """A screenshot of the whole page, or of the element `selector` picks."""
    if selector is None:
        page.screenshot(path=str(path), full_page=True)
    else:
        page.locator(selector).screenshot(path=str(path))
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(SCREENSHOTS) / name)
    return path


def test_a_finished_run_renders_topology_auctions_and_attestation_steps(
    served: tuple[Background, Path], page: Any, tmp_path: Path
) -> None:
    background, runs = served
    report = json.loads((runs / "secure" / "report.json").read_text())
    page.goto(background.url + "#run=secure")
    page.wait_for_selector("#auction-table tr.bid")

    # topology: the six PoPs, the server, the watched link, the VNFs placed by the end
    assert page.locator("#topology .pop").count() == 6
    assert page.locator("#topology .edge.monitored").count() == 1
    placed = page.locator("#topology .vnf").evaluate_all(
        "chips => chips.map(c => c.closest('.pop').dataset.pop + ':' + c.dataset.vnf)"
    )
    expected = [f"{i['pop']}:{i['vnf']}" for i in report["final_instances"]]
    assert sorted(placed) == sorted(expected)

    # auction table: one row per bid or refusal, the winners as report.json has them
    rows = sum(len(a["bids"]) + len(a["refusals"]) or 1 for a in report["auctions"])
    assert page.locator("#auction-table tbody tr").count() == rows
    winners = page.locator("#auction-table tr.winner").evaluate_all(
        "rows => rows.map(r => r.dataset.auction + ':' + r.dataset.agent)"
    )
    assert winners == [
        f"{k}:{a['winner']}" for k, a in enumerate(report["auctions"]) if a["winner"]
    ]
    first = page.locator("#auction-table tbody tr").first.inner_text()
    assert "linkRateLimited(pop6~server)" in first and "0.104" in first

    # attestation plan and steps: verifier → measured, result, root of trust
    attestations = report["trust"]["attestations"]
    assert page.locator("#attestation-table tr.step").count() == len(attestations)
    assert page.locator("#attestation-svg .seq-step").count() == len(attestations)
    step0 = page.locator("#attestation-table tr.step").first.inner_text()
    assert "SECaaS → pop1" in step0 and "pass" in step0
    plan = page.locator("#plan .node[data-agent]").evaluate_all("n => n.map(x => x.textContent)")
    assert plan == report["trust"]["plan"]

    # alerts and the traffic timeline with the mitigations
    assert "Link Monitor: link over-used" in page.locator("#alerts").inner_text()
    assert page.locator("#timeline .mitigation").count() >= 5
    assert page.locator("#timeline .series-attack").count() == 1
    save(page, tmp_path / "ui-screenshot.png", "ui-screenshot.png")

    # the slider animates placements: at 0 s only the Link Monitor, at 30 s three more
    page.locator("#time-slider").fill("0")
    assert page.locator("#topology .vnf").count() == 1
    page.locator("#time-slider").fill("30")
    assert page.locator("#topology .vnf").count() == 4
    assert page.locator("#auction-table tr.future").count() > 0
    assert page.problems == []


def test_a_live_run_is_shown_as_it_goes_then_saved(page: Any, tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "runs" / "watched"
    options = ["--ui", "--ui-port", str(port), "--speed", "60", "--out", str(out)]
    log = (tmp_path / "demo.log").open("w")  # a pipe could fill up and stall the demo
    demo = subprocess.Popen(
        [sys.executable, "-m", "secmas", "demo", *options], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "api/live", timeout=1).read()
                break
            except OSError:
                assert demo.poll() is None, (tmp_path / "demo.log").read_text()
                assert time.monotonic() < deadline, "the live page never came up"
                time.sleep(0.1)
        page.goto(url + "#live")
        page.wait_for_selector("#live-status.running", timeout=30_000)
        page.wait_for_selector("#attestation-table tr.step", timeout=30_000)
        page.wait_for_selector("#auction-table tr.winner", timeout=30_000)
        assert page.locator("#topology .pop").count() == 6
        assert "live: ddos-6pop-" in page.locator("#summary").inner_text()
        save(page, tmp_path / "ui-live-screenshot.png", "ui-live-screenshot.png")
        page.wait_for_selector("#live-status.finished", timeout=60_000)
        page.wait_for_function("document.title === 'secmas · watched'", timeout=10_000)
        assert "the live run finished" in page.locator("#banner").inner_text()
        assert page.locator("#run-select").input_value() == "watched"
        # the saved run's tables, fetched after the switch: every winner and step, read while
        # the CLI still serves (counted at once after Ctrl-C, they were once still empty)
        report = json.loads((out / "report.json").read_text())
        winners = [a for a in report["auctions"] if a["winner"]]
        page.wait_for_function(
            "([winners, steps]) =>"
            " document.querySelectorAll('#auction-table tr.winner').length === winners &&"
            " document.querySelectorAll('#attestation-table tr.step').length === steps",
            arg=[len(winners), len(report["trust"]["attestations"])],
            timeout=10_000,
        )
        # the run is over and saved; once the CLI has printed its summary (the page is told
        # as soon as the report is saved, the CLI may still be printing) it serves on until
        # Ctrl-C, which then ends it cleanly
        deadline = time.monotonic() + 60
        while "still serving" not in (tmp_path / "demo.log").read_text():
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, "the CLI never said it serves on"
            time.sleep(0.1)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 0, (tmp_path / "demo.log").read_text()
        assert page.problems == []
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        log.close()


def test_every_view_at_800_px_and_an_unreadable_run_shows_nothing_of_another(
    served: tuple[Background, Path], page: Any, tmp_path: Path
) -> None:
    background, runs = served
    page.set_viewport_size({"width": 800, "height": 900})
    page.goto(background.url + "#run=secure")
    page.wait_for_selector("#auction-table tr.bid")
    options = page.locator("#run-select option").evaluate_all("o => o.map(x => x.value)")
    folders = {f.name for f in runs.iterdir() if (f / "report.json").is_file()}
    assert set(options) == folders and "adaptive defence" in folders  # every folder listed

    def choose(run: str, ready: str) -> None:
        page.locator("#run-select").select_option(run)
        page.wait_for_selector(ready)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 800, f"{run}: the page is {width} px wide at 800 px"

    def shot(selector: str, name: str) -> None:
        save(page, tmp_path / name, name, selector)

    # CTI hygiene and sharing decisions, MTD moves (a folder with a space in its name)
    report = json.loads((runs / "adaptive defence" / "report.json").read_text())
    choose("adaptive defence", "#cti-domains tbody tr")
    domains = page.locator("#cti-domains tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.domain + ':' + r.cells[3].innerText.split('\\n')[0])"
    )
    assert sorted(domains) == ["core-c:refused", "edge-a:may bid", "edge-b:may bid"]
    assert page.locator("#cti-fields tbody tr").count() == len(
        {d["field"] for d in report["cti"]["decisions"]}
    )
    moves = report["mtd"]["moves"]
    assert page.locator("#mtd-moves tr.move").count() == len(moves)
    outcomes = page.locator("#mtd-moves tr.move .badge").all_inner_texts()
    assert outcomes == [m["outcome"] for m in moves]
    assert page.locator("#mtd-chart .mtd-pred-down").count() == len(moves)
    assert page.locator("#mtd-chart .mtd-meas-down").count() == 0
    assert "nothing measured" in page.locator("#mtd").inner_text()
    views = page.locator("#views button").all_inner_texts()
    assert "CTI" in views and "MTD moves" in views and "SSLA terms" not in views
    shot("#cti-panel", "ui-cti.png")
    shot("#mtd-panel", "ui-mtd.png")

    # SSLA terms over time
    policy = json.loads((runs / "policy" / "report.json").read_text())["policy"]
    choose("policy", "#ssla-table tr.term")
    assert page.locator("#ssla-table tr.term").count() == len(policy["compliance"])
    breached = page.locator('#ssla-table tr.term[data-state="breached"]')
    assert breached.count() == 1 and breached.locator(".strip-breach").count() == 1
    assert page.locator("#cti-panel").is_hidden() and page.locator("#mtd-panel").is_hidden()
    shot("#ssla-panel", "ui-ssla.png")

    # CNF metrics: one chart per column of metrics-web.csv, with the closed loop's alerts
    columns = (runs / "loop" / "metrics-web.csv").read_text().splitlines()[0].split(",")
    choose("loop", '#cnf-metrics .charts[data-cnf="web"] .chart')
    charts = page.locator('#cnf-metrics .charts[data-cnf="web"] .chart')
    assert charts.count() == len(columns) - 1  # all but the timestamp
    assert page.locator("#cnf-metrics .chart path").count() == len(columns) - 1
    shot("#cnf-panel", "ui-cnf-metrics.png")

    # 200 PoPs: names appear once zoomed in (wheel over a PoP), drag pans, fit restores
    choose("gabriel 200", "#topology .pop")
    svg = page.locator("#topology-svg")
    assert page.locator("#topology .pop").count() == 200
    assert "labels" not in (svg.get_attribute("class") or "")
    full = svg.get_attribute("viewBox")
    pop = page.locator('#topology .pop[data-pop="pop100"] circle')
    pop.scroll_into_view_if_needed()
    box = pop.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(4):
        page.mouse.wheel(0, -200)
    page.wait_for_function("document.getElementById('topology-svg').classList.contains('labels')")
    x, _, w, _ = map(float, svg.get_attribute("viewBox").split())
    assert w < 1000 / 2
    step = 100 if x > 1 else -100  # a drag to the right shows what lies left
    page.mouse.down()
    page.mouse.move(box["x"] + step, box["y"], steps=4)
    page.mouse.up()
    assert float(svg.get_attribute("viewBox").split()[0]) != x
    shot("#topology-panel", "ui-topology-200-zoomed.png")
    page.locator("#zoom-fit").click()
    assert svg.get_attribute("viewBox") == full
    shot("#topology-panel", "ui-topology-200.png")

    # an unreadable run: every panel cleared, the reason said, nothing of the last run
    choose("broken", "#unreadable")
    assert "report.json: line 1" in page.locator("#unreadable").inner_text()
    assert page.locator("main").is_hidden()
    for left in ("#topology .pop", "#auction-table", "#summary .chip", "#cnf-metrics .chart"):
        assert page.locator(left).count() == 0, left
    assert page.title() == "secmas · broken (cannot be read)"
    save(page, tmp_path / "ui-unreadable.png", "ui-unreadable.png")
    choose("secure", "#auction-table tr.bid")
    assert page.locator("#unreadable").is_hidden() and page.title() == "secmas · secure"

    # an answer that comes for a run no longer picked is dropped
    held: list[Any] = []
    page.route("**/api/runs/loop", lambda route: held.append(route))
    page.locator("#run-select").select_option("loop")
    page.wait_for_function("document.title === 'secmas · loop'")
    choose("policy", "#ssla-table tr.term")
    with page.expect_response("**/api/runs/loop"):
        held[0].continue_()
    page.evaluate("new Promise(done => setTimeout(done, 100))")
    assert page.title() == "secmas · policy" and page.locator("#cnf-panel").is_hidden()
    assert "scenario spoofed-injection" in page.locator("#summary").inner_text()
    assert [p for p in page.problems if "status of 422" not in p] == []
