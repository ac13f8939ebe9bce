"""The application layer as a user calls it: import, run, read the result."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from secmas.api import PlanOptions, RunInputError, RunObserver, embedded_path, plan, run
from secmas.api.run import fresh_folder
from secmas.report.folder import AUDIT_LOG
from secmas.scenario.loader import load_scenario


def test_a_run_returns_its_report_acceptance_and_files(tmp_path: Path) -> None:
    steps: list[str] = []
    told: list[float] = []

    class Steps(RunObserver):
        def step(self, number: str, name: str) -> None:
            steps.append(number)

    result = run(
        "ddos-6pop",
        out=tmp_path / "run",
        insecure=True,
        observer=Steps(),
        progress=lambda now, _duration: told.append(now),
    )
    assert result.passed
    assert result.folder == tmp_path / "run"
    assert result.report["auctions"][0]["goal"].startswith("linkRateLimited")
    assert json.loads((result.folder / "report.json").read_text())["run_id"] == result.run_id
    assert {p.name for p in result.paths} >= {"report.json", "auctions.csv", "timeline.png"}
    assert steps[:2] == ["0", "1"] and told[-1] == pytest.approx(240.0)
    assert len(result.journal.auctions) == len(result.report["auctions"])


@pytest.mark.parametrize("form", ["path", "text", "model", "name"])
def test_a_scenario_may_be_a_file_text_a_model_or_an_embedded_name(form: str) -> None:
    path = embedded_path("ddos-6pop")
    given = {
        "path": path,
        "text": path.read_text(),
        "model": load_scenario(path),
        "name": "ddos-6pop",
    }[form]
    checked = plan(given, seed=7, engine="simulator")
    assert checked.scenario.id == "ddos-6pop" and checked.scenario.seed == 7


@pytest.mark.parametrize(
    ("options", "option", "words"),
    [
        ({"tamper": "pop99"}, "tamper", "not a PoP of the scenario"),
        ({"engine": "quantum"}, "engine", "choose simulator or emulated"),
        ({"ledger": "ftp://x"}, "ledger", "expected 'memory'"),
        ({"seed": -1}, "seed", "a seed is 0 to 4294967295"),
        ({"seed": 2**32}, "seed", "4294967296: a seed is 0 to 4294967295"),
    ],
)
def test_bad_options_are_refused_before_any_work(
    options: dict[str, object], option: str, words: str
) -> None:
    with pytest.raises(RunInputError) as refused:
        plan("ddos-6pop", **options)
    assert refused.value.option == option and words in str(refused.value)
    assert str(refused.value).startswith(option)


def test_a_bad_scenario_text_names_its_line_and_field() -> None:
    text = embedded_path("ddos-6pop").read_text().replace("seed: ", "seed: -", 1)
    with pytest.raises(RunInputError) as refused:
        plan(text)
    assert refused.value.option is None
    assert any(p.startswith("<string>:") and "seed" in p for p in refused.value.problems)


def test_a_default_run_folder_is_never_written_over(tmp_path: Path) -> None:
    said: list[str] = []

    class Notes(RunObserver):
        def note(self, text: str) -> None:
            said.append(text)

    folder = tmp_path / "ddos-6pop-20261123-090000"
    assert fresh_folder(folder, Notes()) == folder
    folder.mkdir()
    (tmp_path / f"{folder.name}-2").mkdir()
    assert fresh_folder(folder, Notes()) == tmp_path / f"{folder.name}-3"
    assert said == [f"{folder} exists: writing to {folder}-3"]


def test_an_out_folder_that_holds_files_is_written_over_only_when_forced(
    tmp_path: Path,
) -> None:
    """As the command's `--out` and `--force`: refused before any work, naming the fix; an
    audit log, evidence, is never written over."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.json").write_text("{}")
    with pytest.raises(RunInputError) as refused:
        run("ddos-6pop", out=out, insecure=True, observer=Failing())
    assert refused.value.option == "out"
    assert refused.value.problems == [
        f"{out} already holds files (report.json): pass force=True to write over them, or "
        "choose another folder"
    ]
    assert (out / "report.json").read_text() == "{}"
    (out / AUDIT_LOG).write_text("")
    with pytest.raises(RunInputError, match="holds the audit log of an earlier run"):
        run("ddos-6pop", out=out, insecure=True, force=True, observer=Failing())
    (out / AUDIT_LOG).unlink()
    assert run("ddos-6pop", out=out, insecure=True, force=True).passed


def test_a_secmas_folder_in_the_working_directory_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout's `secmas/` beside the run shadows the installed package, and the
    measurer refuses the agents that could import it: said at once, with the fix, not at
    step 9-12 after the bring-up's work."""
    (tmp_path / "secmas").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunInputError) as refused:
        plan("ddos-6pop")
    assert refused.value.problems[0].startswith(f"{tmp_path / 'secmas'} shadows the installed")
    assert "run from another folder" in refused.value.problems[0]
    assert plan("ddos-6pop", insecure=True).scenario.id == "ddos-6pop"  # no agent measured


class Failing(RunObserver):
    """An observer a refused run must never reach: it began no work."""

    def begin(self, *_args: object) -> None:
        raise AssertionError("the run began")


def test_synthetic_goals_are_refused_where_they_would_be_ignored() -> None:
    from secmas.api import Processes

    text = embedded_path("ddos-6pop").read_text() + "load: {pop: pop6, synthetic_goals: 5}\n"
    assert plan(text).scenario.load is not None
    with pytest.raises(RunInputError, match="in-process agents on the simulator"):
        plan(text, placement=Processes())
    with pytest.raises(RunInputError, match="in-process agents on the simulator"):
        plan(text, engine="emulated")


def test_a_closed_loop_on_the_emulated_engine_refuses_what_its_real_cnf_cannot_run() -> None:
    from secmas.api.loops import closed_loop
    from secmas.api.observer import RunObserver

    text = embedded_path("cnf-attack").read_text()
    assert plan(text, federated=True).scenario.analytics.training == "federated"
    emulated = plan(text, engine="emulated", detect=True).scenario
    with pytest.raises(RunInputError, match="inside its real CNF, not network_latency"):
        closed_loop(emulated, RunObserver())  # before any model is trained
    federated = plan(text, engine="emulated", federated=True).scenario
    with pytest.raises(RunInputError, match="federated training runs on the simulator"):
        closed_loop(federated, RunObserver())


@pytest.mark.parametrize(
    ("old", "new", "says", "caveat"),
    [
        (
            "  attackers: 8\n  rate: 0.5\n",
            "  attackers: 8\n  rate: 0.1\n",
            "the Link Monitor never perceived over-usage of pop6–server",
            "attack: the monitored link pop6–server carries about 2.",
        ),
        (
            '{measure: P, op: "<=", value: 8}',
            '{measure: P, op: "<=", value: 0}',
            "anomalousUsage(pop6~server) got no bid (t=86.5 s): no path from pop1, pop2, pop3, "
            "pop4, pop5 to pop6 meets goals[1].constraints[0] P <= 0",
            "goals[0].constraints[0]: P <= 0 holds on no path between two PoPs",
        ),
    ],
)
def test_a_run_that_misses_its_figures_tells_why(
    tmp_path: Path, old: str, new: str, says: str, caveat: str
) -> None:
    warned: list[str] = []

    class Warnings(RunObserver):
        def warning(self, text: str) -> None:
            warned.append(text)

    text = embedded_path("ddos-6pop").read_text().replace(old, new)
    result = run(text, out=tmp_path / "run", insecure=True, observer=Warnings())
    assert not result.passed
    assert any(reason.startswith(says) for reason in result.acceptance.reasons)
    reasons = list(result.acceptance.reasons)
    assert warned[0].startswith("security is off")
    assert warned[1].startswith(caveat)  # at the start, as `scenario validate` warns
    assert warned[-len(reasons) :] == reasons  # at the end
    saved = json.loads((result.folder / "report.json").read_text())["acceptance"]["reasons"]
    assert saved == list(result.acceptance.reasons)


def test_the_typed_options_are_exactly_the_plans_keywords() -> None:
    """`run(**options)` is typed by `PlanOptions`: each of its keys is one of `plan`'s
    keywords, and none of `plan`'s is missing from it."""
    keywords = set(inspect.signature(plan).parameters) - {"scenario"}
    assert set(PlanOptions.__optional_keys__) == keywords
    assert not PlanOptions.__required_keys__
