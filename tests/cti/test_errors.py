"""Problem rendering and line lookup."""

from __future__ import annotations

from secmas.cti.errors import CTIInputError, Problem, compose, dotted, line_of


def test_problem_rendering() -> None:
    assert str(Problem("a.json", "hosts[0].ip", "bad", 7)) == "a.json:7: hosts[0].ip: bad"
    assert str(Problem("a.csv", "CPE", "empty", 4, 3)) == "a.csv:4 (row 3): CPE: empty"
    assert str(Problem("a.yaml", "", "no")) == "a.yaml: (top level): no"
    error = CTIInputError([Problem("a", "x", "one"), Problem("a", "y", "two")])
    assert str(error) == "a: x: one\na: y: two"
    assert len(error.problems) == 2


def test_line_of_follows_mappings_and_sequences() -> None:
    node = compose('{\n  "hosts": [\n    {"ip": 1},\n    {\n      "ip": 2\n    }\n  ]\n}\n')
    assert dotted(("hosts", 1, "ip")) == "hosts[1].ip"
    assert line_of(node, ("hosts", 1, "ip")) == 5
    assert line_of(node, ("hosts", 0)) == 3
    assert line_of(node, ("hosts", 9, "ip")) == 2  # the deepest node reached
    assert line_of(None, ("hosts",)) is None
    assert compose("{\x00") is None
    assert line_of(compose('{\n\t"hosts": [\n\t\t{"ip": 1}\n\t]\n}'), ("hosts", 0, "ip")) == 3
