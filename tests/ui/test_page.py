"""The page's views in a real browser (Debian's Chromium, headless, through Playwright, as
tests/e2e/test_ui_browser.py drives it), over the session's run folders
(tests/ui/demo_runs.py): link load, steered paths and blocked flows on the topology over
time; the auction timeline; two runs side by side; CSV and PNG export; no column clipped
at 1400 px; SSLA periods not measured drawn as such; every chart with its axes, units and
time. Screenshots go under the test's tmp_path (SECMAS_SCREENSHOTS=DIR copies them there).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.ui.test_minds import busy_moment

from secmas.ui.app import create_app
from secmas.ui.server import Background, bind, serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
SCREENSHOTS = os.environ.get("SECMAS_SCREENSHOTS")
SHOWN = ("secure", "policy", "loop", "adaptive defence")

if not CHROMIUM.exists():
    pytest.skip(
        "Chromium is not installed at /usr/bin/chromium (scripts/setup --test installs it)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")


@pytest.fixture(scope="module")
def folder(runs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's readable runs (linked, not copied), and `older run`: the secure run as
    a report written before runs recorded every link's load (telemetry `links`) and the end
    of each steering (`unsteer` actions) has it."""
    root = tmp_path_factory.mktemp("page-runs")
    for name in SHOWN:
        (root / name).symlink_to(runs / name, target_is_directory=True)
    copy = root / "older run"
    copy.mkdir()
    shutil.copy(runs / "secure" / "scenario.yaml", copy / "scenario.yaml")
    report = json.loads((runs / "secure" / "report.json").read_text())
    for point in report["telemetry"]:
        del point["links"]
    report["actions"] = [a for a in report["actions"] if a["action"] != "unsteer"]
    (copy / "report.json").write_text(json.dumps(report))
    return root


@pytest.fixture(scope="module")
def served(folder: Path) -> Iterator[Background]:
    background = serve_in_thread(create_app(folder), bind("127.0.0.1", 0))
    yield background
    background.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.problems = problems
    yield page
    assert problems == []
    page.close()


def report_of(folder: Path, name: str) -> dict[str, Any]:
    return json.loads((folder / name / "report.json").read_text())


def open_run(page: Any, served: Background, run: str, ready: str = "#summary .chip") -> None:
    page.goto(served.url + "#run=" + run.replace(" ", "%20"))
    page.wait_for_function(
        f"document.title === 'secmas · {run}' && !document.body.classList.contains('loading')"
    )
    page.wait_for_selector(f"{ready} >> nth=0")


def at(page: Any, t: float) -> None:
    page.locator("#time-slider").fill(str(t))


def shows_mind(page: Any, agent: str, t: float) -> None:
    """Wait until the minds panel shows `agent` at `t`."""
    page.wait_for_function(
        """([agent, t]) => {
          const shown = document.querySelector("#mind [data-agent]");
          return shown && shown.dataset.agent === agent && Number(shown.dataset.time) === t;
        }""",
        arg=[agent, t],
    )


def save(page: Any, path: Path, name: str, selector: str) -> None:
    page.locator(selector).screenshot(path=str(path / name))
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path / name, Path(SCREENSHOTS) / name)


def download(page: Any, selector: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.locator(selector).click()
    done = info.value
    return done.suggested_filename, Path(done.path()).read_bytes()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_topology_shows_link_load_steered_paths_and_blocked_flows_over_time(
    served: Background, folder: Path, page: Any, tmp_path: Path
) -> None:
    report = report_of(folder, "secure")
    open_run(page, served, "secure", "#topology .pop")
    links = page.locator("#topology .edge.link")
    watched = page.locator("#topology .edge.loaded")
    at(page, 60)
    # every link drawn with its load as report.json records it (telemetry `links`, which
    # leaves out the links that carried nothing: 0)
    recorded = report["telemetry"][60]["links"]
    assert watched.count() == links.count() > len(recorded) > 0
    for k in range(links.count()):
        link = links.nth(k)
        key = f"{link.get_attribute('data-a')}~{link.get_attribute('data-b')}"
        assert float(link.get_attribute("data-load")) == pytest.approx(recorded.get(key, 0))
    monitored = page.locator("#topology .edge.monitored")
    assert float(monitored.get_attribute("data-load")) == pytest.approx(
        report["telemetry"][60]["monitored"], abs=1e-3
    )
    assert monitored.evaluate("e => getComputedStyle(e).stroke") != "rgb(156, 163, 175)"  # grey
    assert page.locator("#topology .edge.unrecorded").count() == 0
    assert "load not recorded" not in page.locator("#link-legend").inner_text()
    steered = page.locator("#topology path.steer")
    assert steered.count() == 1
    assert steered.get_attribute("data-path") == "pop6>pop5"
    assert steered.get_attribute("data-purpose") == "limit"
    assert page.locator("#topology .block-mark").count() == 0

    at(page, 131)  # the split's parts are steered to the two Classifiers
    purposes = steered.evaluate_all("p => p.map(x => x.dataset.purpose).sort()")
    assert purposes == ["analysis", "analysis", "limit"]
    # each ends at its agent's unsteer (the Classifiers', once their analysis is done)
    unsteers = [a for a in report["actions"] if a["action"] == "unsteer"]
    assert unsteers and "unsteer" in page.locator("#network").inner_text()
    at(page, max(a["time"] for a in unsteers if " part " in a["detail"]) + 0.5)
    assert "analysis" not in steered.evaluate_all("p => p.map(x => x.dataset.purpose)")

    blocked = [a for a in report["actions"] if a["action"] == "blockFlow"]
    at(page, 200)  # the limit lifted, every attacking flow blocked at pop5
    assert steered.count() == len(blocked)
    assert set(steered.evaluate_all("p => p.map(x => x.dataset.purpose)")) == {"block"}
    mark = page.locator('#topology .block-mark[data-pop="pop5"]')
    assert mark.get_attribute("data-count") == str(len(blocked))
    assert f"{len(blocked)} flow(s) blocked" in page.locator("#network-now").inner_text()
    rows = page.locator("#network-table tbody tr")
    steers = [a for a in report["actions"] if a["action"] == "steer"]
    assert rows.count() == len(steers) + len(blocked)
    at(page, 60)
    assert page.locator("#network-table tbody tr.future").count() == rows.count() - 1
    # the busiest links' loads over the run, each with its bandwidth
    chart = page.locator("#link-load-svg")
    shown = min(links.count(), 6)
    assert chart.locator("path.series").count() == shown
    assert chart.locator("line.limit").count() == shown
    save(page, tmp_path, "ui-topology-network.png", "#topology-panel")

    # play runs the slider on: the drawing follows
    at(page, 20)
    page.locator("#play").click()
    page.wait_for_function("Number(document.getElementById('time-slider').value) > 24")
    page.locator("#play").click()
    assert page.locator("#topology path.steer").count() >= 1

    # a report written before every link's load was recorded: only the watched link's
    # load (telemetry `monitored`), the others grey; steerings' ends inferred, the same
    open_run(page, served, "older run", "#topology .pop")
    at(page, 60)
    assert watched.count() == 1 and "monitored" in watched.get_attribute("class")
    assert float(watched.get_attribute("data-load")) == pytest.approx(
        report["telemetry"][60]["monitored"]
    )
    assert page.locator("#topology .edge.unrecorded").count() == links.count() - 1
    assert "load not recorded" in page.locator("#link-legend").inner_text()
    chart = page.locator("#link-load-svg")
    assert chart.locator("path.series").count() == 1 and chart.locator("line.limit").count() == 1
    assert "inferred" in page.locator("#network").inner_text()
    at(page, 131)
    purposes = steered.evaluate_all("p => p.map(x => x.dataset.purpose).sort()")
    assert purposes == ["analysis", "analysis", "limit"]
    at(page, 200)
    assert set(steered.evaluate_all("p => p.map(x => x.dataset.purpose)")) == {"block"}


def test_auction_timeline_shows_each_auction_and_goes_to_its_time(
    served: Background, folder: Path, page: Any, tmp_path: Path
) -> None:
    auctions = report_of(folder, "secure")["auctions"]
    open_run(page, served, "secure")
    bars = page.locator("#auction-timeline .auction-bar")
    assert bars.count() == len(auctions)
    shown = bars.evaluate_all(
        "bs => bs.map(b => [b.dataset.status, b.dataset.winner,"
        " b.querySelector('.goal').textContent])"
    )
    for (status, winner, goal), auction in zip(shown, auctions, strict=True):
        assert status == auction["status"] and winner == (auction["winner"] or "")
        assert goal.startswith(f"{auctions.index(auction) + 1}. ") and goal[-1] in ")…"
    no_bids = [k for k, a in enumerate(auctions) if a["status"] == "no-bids"]
    assert bars.nth(no_bids[0]).locator(".winner").text_content() == "no-bids"
    assert page.locator("#auction-timeline-svg .time-axis").text_content() == "simulated time (s)"
    # a click goes to the auction's start and shows its rows in the table
    k = len(auctions) - 1
    bars.nth(k).locator("rect").click()
    assert float(page.locator("#time-slider").input_value()) == pytest.approx(
        auctions[k]["sim_start_s"], abs=1
    )
    assert page.locator(f'#auction-table tr.flash[data-auction="{k}"]').count() >= 1
    save(page, tmp_path, "ui-auction-timeline.png", "#auction-timeline-panel")


def test_one_agents_mind_at_a_time_of_a_finished_run(
    served: Background, folder: Path, page: Any, tmp_path: Path
) -> None:
    agent, t, mind = busy_moment(report_of(folder, "secure"))
    open_run(page, served, "secure", "#mind [data-agent]")
    page.locator("#mind-agent").select_option(agent)
    page.locator("#mind-time").fill(str(t))
    shows_mind(page, agent, t)
    assert page.locator("#mind-time-label").inner_text() == f"t = {round(t, 3):g} s"
    assert page.locator("#mind-beliefs li").all_inner_texts() == sorted(mind.beliefs)
    goals = sorted(mind.goals.values(), key=lambda g: g.id)
    rows = page.locator("#mind-goals tbody tr")
    assert [rows.nth(k).locator("td").all_inner_texts() for k in range(rows.count())] == [
        [g.goal, g.status, g.plan] for g in goals
    ]
    rows = page.locator("#mind-intentions tbody tr")
    assert [rows.nth(k).locator("td").all_inner_texts() for k in range(rows.count())] == [
        [g.goal, g.plan] for g in mind.intentions
    ]
    save(page, tmp_path, "ui-mind.png", "#minds-panel")
    # the page's time moves the mind with it: at 0 the agent pursues nothing yet
    at(page, 0)
    shows_mind(page, agent, 0)
    assert page.locator("#mind-intentions").count() == 0


def test_two_runs_side_by_side(served: Background, folder: Path, page: Any, tmp_path: Path) -> None:
    open_run(page, served, "secure")
    page.locator("#compare-open").click()
    page.wait_for_selector("#compare-table")
    assert page.locator("main").is_hidden() and page.locator("#compare").is_visible()
    b = page.locator("#compare-b").input_value()
    assert page.locator("#compare-a").input_value() == "secure" and b != "secure"
    page.locator("#compare-b").select_option("policy")
    page.wait_for_function("document.title === 'secmas · secure vs policy'")
    page.wait_for_selector('#compare-b-col[data-run="policy"] svg')
    secure, policy = report_of(folder, "secure"), report_of(folder, "policy")

    def row(key: str) -> list[str]:
        cells = page.locator(f'#compare-table tr[data-figure="{key}"] td').all_inner_texts()
        return [c.strip() for c in cells]

    assert row("auctions")[:2] == [str(len(secure["auctions"])), str(len(policy["auctions"]))]
    assert row("auctions")[2] == f"−{len(secure['auctions']) - len(policy['auctions'])}"
    assert row("scenario") == ["ddos-6pop", "spoofed-injection", "differs"]
    assert row("passed")[:2] == [
        "yes" if r["acceptance"]["passed"] else "no" for r in (secure, policy)
    ]
    # the same scales on both sides: the traffic charts' value ticks and time ticks agree
    ticks = [
        page.locator(f"#compare-traffic-{side} .axis-label").all_text_contents() for side in "ab"
    ]
    assert ticks[0] == ticks[1] and ticks[0]
    assert page.locator("#compare-auctions-a .auction-bar").count() == len(secure["auctions"])
    # what differs between the two scenarios, field by field
    page.wait_for_selector("#scenario-diff")
    cells = page.locator('#scenario-diff tr[data-path="id"] td').all_inner_texts()
    assert cells == ["id", "ddos-6pop", "spoofed-injection"]
    assert page.locator("#scenario-diff tbody tr").count() > 1
    save(page, tmp_path, "ui-compare.png", "#compare")
    # back to one run
    page.locator("#run-select").select_option("policy")
    page.wait_for_selector("#ssla-table tr.term")
    assert page.locator("#compare").is_hidden() and page.locator("main").is_visible()


def test_tables_export_as_csv_and_charts_as_png(
    served: Background, folder: Path, page: Any
) -> None:
    report = report_of(folder, "secure")
    open_run(page, served, "secure")
    name, data = download(page, '#auctions-panel button[data-csv="auction-table"]')
    assert name == "secure-auctions.csv"
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0][:4] == ["#", "t (s)", "goal", "initiator"]
    auctions = report["auctions"]
    assert len(rows) - 1 == sum(len(a["bids"]) + len(a["refusals"]) or 1 for a in auctions)
    winners = [r for r in rows[1:] if "winner" in r[-1]]
    assert [(r[2], r[5]) for r in winners] == [
        (a["goal"], a["winner"]) for a in report["auctions"] if a["winner"]
    ]
    name, data = download(page, '#traffic-panel button[data-csv="@traffic"]')
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0][0] == "t_s" and len(rows) == len(report["telemetry"]) + 1
    assert float(rows[61][2]) == pytest.approx(report["telemetry"][60]["attack"])
    name, data = download(page, '#traffic-panel button[data-csv="network-table"]')
    assert len(data.decode().strip().splitlines()) == 1 + sum(
        a["action"] in ("steer", "blockFlow") for a in report["actions"]
    )
    for box in ("topology", "auction-timeline"):
        panel = f"{box}-panel"
        name, data = download(page, f'#{panel} button[data-png="{box}"]')
        width, height = png_size(data)
        shown = page.locator(f"#{box}").bounding_box()
        assert name == f"secure-{box}.png" and width >= 1.5 * shown["width"] and height > 100
    open_run(page, served, "policy", "#ssla-table tr.term")
    _, data = download(page, '#ssla-panel button[data-csv="ssla-table"]')
    rows = list(csv.reader(io.StringIO(data.decode())))
    terms = report_of(folder, "policy")["policy"]["compliance"]
    assert len(rows) == len(terms) + 1 and rows[1][-1].startswith("breached 60-61 s")
    assert png_size(download(page, '#ssla-panel button[data-png="ssla"]')[1])[1] > 50


def test_no_column_is_clipped_at_1400_px(served: Background, page: Any) -> None:
    """Every panel, scrolling box and table fits its column: nothing scrolls sideways or
    reaches past its panel or the window (the JSON of a deployment step scrolls in its box)."""
    check = """() => {
      const out = [];
      const boxes = 'main > section, #compare, .scroll, .compare-col';
      for (const el of document.querySelectorAll(boxes)) {
        if (!el.offsetParent && el.id !== 'compare') continue;
        if (el.scrollWidth > el.clientWidth + 1) {
          out.push(`${el.id || el.className}: ${el.scrollWidth} > ${el.clientWidth}`);
        }
      }
      const drawn = 'main table, main svg, #compare table, #compare svg';
      for (const el of document.querySelectorAll(drawn)) {
        const box = el.getBoundingClientRect();
        const panel = el.closest('section').getBoundingClientRect();
        if (box.width && (box.right > panel.right + 1 || box.right > innerWidth)) {
          out.push(`${el.id || el.tagName}: ${box.right} > ${panel.right}`);
        }
      }
      return out;
    }"""
    for run in SHOWN:
        open_run(page, served, run)
        assert page.evaluate(check) == [], run
    page.goto(served.url + "#compare=secure,loop")
    page.wait_for_selector("#compare-b-col svg")
    assert page.evaluate(check) == []


def test_ssla_periods_not_measured_are_never_drawn_green(
    served: Background, folder: Path, page: Any, tmp_path: Path
) -> None:
    terms = report_of(folder, "policy")["policy"]["compliance"]
    open_run(page, served, "policy", "#ssla-table tr.term")
    for term in terms:
        row = page.locator(f'#ssla-table tr.term[data-term="{term["ssla"]}/{term["term"]}"]')
        fill = row.locator(".strip-bg").evaluate("e => getComputedStyle(e).fill")
        share = row.locator(".share .unmeasured").evaluate("e => e.style.width")
        expected = 100 * term["not_measured"] / term["periods"]
        assert float(share.rstrip("%")) == pytest.approx(expected, abs=0.01)
        gaps = row.locator(".strip-gap")
        if term["not_measured"] == term["periods"]:
            assert row.get_attribute("data-strip") == "unmeasured", term["term"]
            assert fill.startswith("url("), f"{term['term']}: {fill}"
        elif term["not_measured"]:
            # the report says which periods: those are hatched, the others met or breached
            assert row.get_attribute("data-strip") == "intervals", term["term"]
            assert gaps.count() == len(term["not_measured_intervals"])
            for k in range(gaps.count()):
                gap = gaps.nth(k).evaluate("e => getComputedStyle(e).fill")
                assert gap.startswith("url("), f"{term['term']}: {gap}"
            assert "periods not measured" in row.inner_text()
        else:
            assert row.get_attribute("data-strip") == "measured" and fill == "rgb(209, 250, 229)"
            assert gaps.count() == 0
    partly = [t for t in terms if 0 < t["not_measured"] < t["periods"]]
    assert partly, "the spoofed-injection run has a term measured in part"
    assert all(
        sum(g["periods"] for g in t["not_measured_intervals"]) == t["not_measured"] for t in terms
    )
    assert "not measured" in page.locator("#ssla .legend").inner_text()
    assert page.locator("#ssla-table .strip-axis span").count() >= 3
    save(page, tmp_path, "ui-ssla-unmeasured.png", "#ssla-panel")


def test_every_chart_has_its_axes_with_units_and_time(
    served: Background, folder: Path, page: Any, tmp_path: Path
) -> None:
    open_run(page, served, "loop", "#cnf-metrics .chart")
    charts = page.locator("#cnf-metrics .chart svg")
    columns = (folder / "loop" / "metrics-web.csv").read_text().splitlines()[0].split(",")[1:]
    assert charts.count() == len(columns)
    units = dict(
        zip(columns, page.locator("#cnf-metrics .unit-axis").all_text_contents(), strict=True)
    )
    assert units["cpu"] == "cores" and units["latency_p99"] == "ms" and units["net_tx"] == "MB/s"
    assert set(page.locator("#cnf-metrics .time-axis").all_text_contents()) == {
        "simulated time (s)"
    }
    assert page.locator("#cnf-metrics .chart").first.locator(".axis-label").count() >= 5
    save(page, tmp_path, "ui-cnf-axes.png", "#cnf-panel")
    for svg in ("#timeline-svg", "#link-load-svg"):
        assert page.locator(f"{svg} .time-axis").text_content() == "simulated time (s)"
        assert "MB/s" in page.locator(f"{svg} .unit-axis").text_content()
    open_run(page, served, "adaptive defence", "#mtd-chart")
    assert "(s)" in page.locator("#mtd-chart .axis-title").text_content()
