"""Sweep specs: what is refused, with the file, the line, the field and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from secmas.experiment.spec import MAX_RUNS, Range, SpecError, load_spec

DATA = Path(__file__).parent / "data"
GOOD = """\
name: ok
scenarios: [{ring: 6}]
fixed: {security.enabled: false}
parameters:
  attack.rate: [4, 5]
"""


def refused(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return [str(problem) for problem in caught.value.problems]


def test_the_tests_spec_loads() -> None:
    loaded = load_spec(DATA / "tiny.yaml")
    assert loaded.spec.runs == 4
    assert loaded.spec.labels() == ["ring-6"]
    assert loaded.spec.columns[:5] == (
        "run",
        "scenario",
        "load.synthetic_goals",
        "seed",
        "repetition",
    )


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (GOOD + "colour: red\n", 6, "colour: Extra inputs are not permitted"),
        (GOOD.replace("attack.rate", "attack.ratee"), 5, "did you mean 'rate'"),
        (GOOD.replace("attack.rate", "laod.x"), 5, "has no field 'laod'; did you mean 'load'"),
        (GOOD.replace("attack.rate", "pops.cpu"), 5, "pops is a list: name an item, as pops[0]"),
        (GOOD.replace("attack.rate", "attack/rate"), 5, "is not a dotted path"),
        (GOOD.replace("attack.rate", "seed"), 5, "the seed is set by `seeds`"),
        (GOOD.replace("[4, 5]", "[]"), 5, "at least 1 item"),
        (GOOD.replace("[4, 5]", "{from: 5, to: 4}"), 5, "an empty range"),
        (GOOD.replace("[4, 5]", "{from: 0, to: 1, step: 0}"), 5, "step: Input should be greater"),
        (GOOD.replace("[{ring: 6}]", "[]"), 2, "at least 1 item"),
        (GOOD.replace("[{ring: 6}]", "[{ring: 2}]"), 2, "greater than or equal to 3"),
        (GOOD.replace("[{ring: 6}]", "[{ring: 6, file: a.yaml}]"), 2, "exactly one of file, ring"),
        (GOOD.replace("[{ring: 6}]", "[{ring: 6}, {ring: 6}]"), 2, "named 'ring-6'"),
        (GOOD + "metrics: [speed]\n", 6, "unknown metric 'speed'"),
        (GOOD + "repetitions: 0\n", 6, "greater than or equal to 1"),
        (GOOD + "seeds: [0, 4294967296]\n", 6, "less than or equal to 4294967295"),
        (GOOD + "seeds: [-1]\n", 6, "greater than or equal to 0"),
        (GOOD + "plots: [{x: colour, y: [wall_s]}]\n", 6, "x 'colour' is none of"),
        (GOOD + "plots: [{x: attack.rate, y: [speed]}]\n", 6, "y 'speed' is none of"),
        (
            GOOD + "plots: [{x: agents, y: [wall_s]}, {x: seed, y: [wall_s]}]\n",
            6,
            "give each a name",
        ),
        (GOOD + "fixed: {attack.rate: 3}\n", 6, "duplicate key 'fixed' (first at line 3)"),
    ],
)
def test_bad_specs_are_named_with_line_and_reason(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    problems = refused(tmp_path, text)
    assert any(f"spec.yaml:{line}:" in p and expected in p for p in problems), problems


def test_a_value_also_fixed_is_refused(tmp_path: Path) -> None:
    problems = refused(tmp_path, GOOD.replace("{security.enabled: false}", "{attack.rate: 3}"))
    assert any("attack.rate is also fixed" in p for p in problems)


def test_absurd_sizes_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace("[4, 5]", "{from: 0, to: 9999}") + "repetitions: 11\n"
    assert any(f"more than {MAX_RUNS}, refused" in p for p in refused(tmp_path, text))
    text = GOOD.replace("[4, 5]", "{from: 0, to: 1, step: 0.00001}")
    assert any("more than 10000 values" in p for p in refused(tmp_path, text))


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nowhere\.yaml: .*cannot read file"):
        load_spec(tmp_path / "nowhere.yaml")
    assert any("expected a mapping" in p for p in refused(tmp_path, "- a\n- b\n"))


def test_ranges_give_integers_when_whole() -> None:
    assert Range.model_validate({"from": 0, "to": 10, "step": 5}).values() == (0, 5, 10)
    assert Range.model_validate({"from": 0.5, "to": 1.5, "step": 0.5}).values() == (0.5, 1.0, 1.5)
