"""Attacks on every YAML reader: alias bombs ("billion laughs"), recursive aliases, duplicate
keys and values that would flood an error message. Each must be refused at load, naming the
file and the line, with a short message, and without building the expanded document."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.scenario.yamlbombs import bomb
from typer.testing import CliRunner

from secmas.cli.main import app, default_scenario_path
from secmas.cti.errors import CTIInputError, compose
from secmas.cti.maps import load_field_map
from secmas.policy.intents import load_intents
from secmas.scenario.loader import ScenarioError, load_scenario, load_service
from secmas.scenario.yamlfile import MAX_ALIAS_NODES, MESSAGE_CHARS

SCENARIO = default_scenario_path()
INTENTS = Path(__file__).parents[2] / "scenarios" / "policies" / "slice-isolation.yaml"
SENSITIVITY = Path(__file__).parents[2] / "scenarios" / "cti" / "sensitivity.yaml"
NSD = "id: web-only\nvnfs:\n  - {id: guard, vnfd: rate_limiter, pop: pop5}\nmax_latency: 80\n"

# A 382-byte attack on `secmas policy check`: nine anchors, each nine aliases of
# the one before (9^9 ≈ 387 million strings once expanded), used as an intent's whitelist.
BOMB_382 = (
    "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
    + "".join(
        f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]\n"
        for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "intents: [{id: x, slice: w, kind: isolation, whitelist: *i}]\n"
)

Problems = list[tuple[int | None, str]]


def _problems(load: Callable[[], object]) -> Problems:
    """The (line, message) of each problem the reader refuses its input with."""
    try:
        load()
    except (ScenarioError, CTIInputError) as exc:
        return [(p.line, str(p)) for p in exc.problems]
    return []


READERS: dict[str, tuple[Callable[[Path], Problems], str]] = {
    "scenario": (lambda path: _problems(lambda: load_scenario(path)), SCENARIO.read_text()),
    "network-service": (
        lambda path: _problems(lambda: load_service(path, load_scenario(SCENARIO))),
        NSD,
    ),
    "intents": (lambda path: _problems(lambda: load_intents(path)), INTENTS.read_text()),
    "cti-map": (
        lambda path: _problems(lambda: load_field_map(path, "sensitivity")),
        SENSITIVITY.read_text(),
    ),
}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "input.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("reader", READERS)
def test_the_issues_alias_bomb_is_refused_without_expanding(reader: str, tmp_path: Path) -> None:
    load, _sample = READERS[reader]
    assert len(BOMB_382.encode()) <= 400
    path = _write(tmp_path, BOMB_382)
    tracemalloc.start()
    try:
        problems = load(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [(line, message)] = problems
    assert line == 6 and "alias bomb" in message and message.startswith(str(path))
    assert len(message) < 300
    assert peak < 100 * 2**20  # an upper bound only: the expanded bomb would need gigabytes


@pytest.mark.parametrize("reader", READERS)
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    width=st.integers(min_value=10, max_value=40),
    levels=st.integers(min_value=7, max_value=12),
    before=st.booleans(),
)
def test_any_alias_bomb_is_refused_at_its_line(
    reader: str, width: int, levels: int, before: bool, tmp_path: Path
) -> None:
    assert width ** (levels - 1) > MAX_ALIAS_NODES
    load, sample = READERS[reader]
    text = bomb(width, levels) + sample if before else sample + bomb(width, levels)
    [(line, message)] = load(_write(tmp_path, text))
    assert "aliases repeat more than" in message and "alias bomb" in message
    bomb_at = 0 if before else sample.count("\n")
    assert line is not None and bomb_at + 2 <= line <= bomb_at + levels


@pytest.mark.parametrize("reader", READERS)
def test_a_recursive_alias_is_refused(reader: str, tmp_path: Path) -> None:
    load, sample = READERS[reader]
    [(line, message)] = load(_write(tmp_path, "loop: &loop [1, [2, *loop]]\n" + sample))
    assert line == 1 and "recursive alias *loop" in message


@pytest.mark.parametrize("reader", READERS)
@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_repeated_top_level_key_is_refused_with_both_lines(
    reader: str, data: st.DataObject, tmp_path: Path
) -> None:
    load, sample = READERS[reader]
    node = yaml.compose(sample)
    keys = {key.value: key.start_mark.line + 1 for key, _ in node.value}
    key = data.draw(st.sampled_from(sorted(keys)))
    text = sample + f"{key}: null\n"
    [(line, message)] = load(_write(tmp_path, text))
    assert line == text.count("\n")
    assert message.endswith(f"duplicate key '{key}' (first at line {keys[key]})")


def test_a_nested_duplicate_key_in_a_scenario_names_its_line(tmp_path: Path) -> None:
    text = SCENARIO.read_text()
    assert "  duration: 240\n" in text
    text = text.replace("  duration: 240\n", "  duration: 240\n  duration: 100000\n", 1)
    [(line, message)] = READERS["scenario"][0](_write(tmp_path, text))
    assert line is not None and text.splitlines()[line - 1] == "  duration: 100000"
    assert ": traffic.duration: duplicate key 'duration' (first at line" in message


def test_an_allowed_alias_is_never_echoed_in_full(tmp_path: Path) -> None:
    """Under the alias bound a value may still be large: an intent's bad whitelist of 10 000
    nested strings is named, not printed (a 226 MB message before)."""
    text = bomb(10, 4) + "intents: [{id: x, slice: w, kind: isolation, whitelist: [*l3]}]\n"
    path = _write(tmp_path, text)
    problems = READERS["intents"][0](path)
    # the bound is on what the value adds: the temporary path's length varies
    assert problems and all(len(m.replace(str(path), "")) < 300 for _line, m in problems)
    assert any("expected an IP address or CIDR prefix as text, got [[" in m for _l, m in problems)


@pytest.mark.parametrize("reader", READERS)
def test_megabyte_keys_and_values_are_never_echoed_in_full(reader: str, tmp_path: Path) -> None:
    load, sample = READERS[reader]
    huge = "x" * 1_000_000
    text = f"? {huge}\n: 1\nid: {huge}\nkind: {huge}\n" + sample.replace("id:", "old_id:", 1)
    problems = load(_write(tmp_path, text))
    assert problems
    assert all(len(message) < MESSAGE_CHARS + 400 for _line, message in problems)


def test_json_line_numbers_are_bounded_too() -> None:
    assert compose(bomb(9, 9)) is None
    assert compose('{"a": 1}') is not None


def test_policy_check_refuses_the_bomb_with_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, BOMB_382)
    result = CliRunner().invoke(app, ["policy", "check", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "alias bomb" in result.output and "Traceback" not in result.output
    assert len(result.output) < 400
