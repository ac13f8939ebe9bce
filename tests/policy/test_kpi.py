"""The KPI formula language: parsing, evaluation against hand-computed values, errors with
columns, hostile input, and properties over random text and random well-formed formulas."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from secmas.policy.kpi import (
    MAX_DEPTH,
    MAX_EXAMPLES,
    MAX_LENGTH,
    And,
    Compare,
    FieldRef,
    Formula,
    FormulaError,
    Member,
    Not,
    Or,
    Prefixes,
    parse,
)

WHITELIST = {"10.0.0.1", "10.0.0.2"}

# Ten packets of one slice: three come from outside the whitelist (3, 5, 7), packet 9 carries
# no source address and packet 6 (ICMP) no port.
PACKETS: list[dict[str, Any]] = [
    {"source_ip": "10.0.0.1", "bytes": 100, "proto": "tcp", "port": 443},
    {"source_ip": "10.0.0.2", "bytes": 200, "proto": "udp", "port": 53},
    {"source_ip": "10.0.0.1", "bytes": 300, "proto": "tcp", "port": 80},
    {"source_ip": "192.168.9.9", "bytes": 400, "proto": "tcp", "port": 22},
    {"source_ip": "10.0.0.2", "bytes": 500, "proto": "udp", "port": 123},
    {"source_ip": "172.16.0.5", "bytes": 600, "proto": "udp", "port": 53},
    {"source_ip": "10.0.0.1", "bytes": 700, "proto": "icmp"},
    {"source_ip": "10.0.0.9", "bytes": 800, "proto": "tcp", "port": 443},
    {"source_ip": "10.0.0.2", "bytes": 900, "proto": "tcp", "port": 8080},
    {"bytes": 1000, "proto": "udp", "port": 53},
]


def run(text: str, period: float = 1.0, records: list[dict[str, Any]] = PACKETS) -> Any:
    return parse(text).evaluate(records, sets={"whitelist": WHITELIST}, period=period)


# --- hand-computed evaluations -----------------------------------------------------------------

TABLE = [
    # the slice-isolation KPI of Figure 3 and its variants
    ("COUNT(packets WHERE source_ip NOT IN whitelist)", 1.0, 3, None),
    ("COUNT(packets WHERE source_ip NOT IN whitelist) == 0", 1.0, 3, False),
    ("COUNT(packets WHERE source_ip NOT IN whitelist) > 0", 1.0, 3, True),
    ("COUNT(packets WHERE source_ip IN whitelist)", 1.0, 6, None),
    ("COUNT(packets)", 1.0, 10, None),
    ("count(packets where source_ip not in whitelist) <= 3", 1.0, 3, True),
    ("COUNT(ingress packets WHERE source ip NOT IN whitelist)", 1.0, 3, None),
    # RATE = COUNT per second of the period
    ("RATE(packets WHERE proto == 'tcp')", 2.5, 2.0, None),
    ("RATE(packets) > 2", 4.0, 2.5, True),
    ("RATE(packets WHERE source_ip NOT IN whitelist) < 1", 2.0, 1.5, False),
    # SUM / AVG / MAX / MIN of a field over the matching records
    ('SUM(packets.bytes WHERE proto == "udp")', 1.0, 2300, None),
    ("SUM(packets.bytes WHERE source_ip NOT IN whitelist)", 1.0, 1800, None),
    ("SUM(packets.bytes) == 5500", 1.0, 5500, True),
    ("AVG(packets.bytes WHERE proto == 'tcp')", 1.0, 500, None),
    ("MAX(packets.port) >= 8080", 1.0, 8080, True),
    ("MIN(packets.port)", 1.0, 22, None),
    ("SUM(packets.port WHERE proto == 'icmp')", 1.0, 0, None),
    # AND binds tighter than OR; parentheses override
    ("COUNT(packets WHERE proto == 'udp' OR proto == 'tcp' AND port == 443)", 1.0, 6, None),
    ("COUNT(packets WHERE (proto == 'udp' OR proto == 'tcp') AND port == 443)", 1.0, 2, None),
    ("COUNT(packets WHERE proto == 'tcp' AND port == 443 OR proto == 'icmp')", 1.0, 3, None),
    # NOT, and the missing-field rule (packet 6 has no port)
    ("COUNT(packets WHERE NOT proto == 'tcp')", 1.0, 5, None),
    ("COUNT(packets WHERE NOT (proto == 'tcp' OR proto == 'udp'))", 1.0, 1, None),
    ("COUNT(packets WHERE NOT NOT proto == 'tcp')", 1.0, 5, None),
    ("COUNT(packets WHERE port != 53)", 1.0, 6, None),
    ("COUNT(packets WHERE NOT port == 53)", 1.0, 7, None),
    # numbers
    ("COUNT(packets WHERE bytes >= 500)", 1.0, 6, None),
    ("COUNT(packets WHERE bytes < 300)", 1.0, 2, None),
    ("COUNT(packets WHERE port > 100)", 1.0, 4, None),
    ("COUNT(packets WHERE bytes <= 250.5)", 1.0, 2, None),
    ("COUNT(packets WHERE bytes > -1e3)", 1.0, 10, None),
    # strings compare with strings
    ("COUNT(packets WHERE proto < 'tcp')", 1.0, 1, None),
    ("COUNT(packets WHERE source_ip >= '172')", 1.0, 2, None),
    # different kinds never compare
    ("COUNT(packets WHERE proto == 6)", 1.0, 0, None),
    ("COUNT(packets WHERE bytes == '100')", 1.0, 0, None),
    ("COUNT(packets WHERE proto > 1)", 1.0, 0, None),
    ("COUNT(packets WHERE bytes != 'x')", 1.0, 0, None),
    # list literals and field-to-field comparisons
    ("COUNT(packets WHERE port IN [53, 123])", 1.0, 4, None),
    ("COUNT(packets WHERE proto NOT IN ['tcp', \"udp\"])", 1.0, 1, None),
    ("COUNT(packets WHERE port IN [])", 1.0, 0, None),
    ("COUNT(packets WHERE port NOT IN [])", 1.0, 9, None),
    ("COUNT(packets WHERE bytes > port)", 1.0, 7, None),
]


@pytest.mark.parametrize(("text", "period", "value", "holds"), TABLE)
def test_hand_computed(text: str, period: float, value: float, holds: bool | None) -> None:
    result = run(text, period)
    assert result.value == pytest.approx(value)
    assert result.holds is holds


def test_isolation_evidence_keeps_the_offending_packets() -> None:
    result = run("COUNT(packets WHERE source_ip NOT IN whitelist) == 0")
    assert result.matched == 3
    assert [e["source_ip"] for e in result.examples] == ["192.168.9.9", "172.16.0.5", "10.0.0.9"]
    many = run("COUNT(packets WHERE bytes > 0)")
    assert many.matched == 10 and len(many.examples) == MAX_EXAMPLES
    with pytest.raises(TypeError):
        many.examples[0]["bytes"] = 0  # evidence is read-only


def test_evidence_is_a_copy() -> None:
    records = [{"source_ip": "6.6.6.6"}]
    result = parse("COUNT(p WHERE source_ip NOT IN whitelist)").evaluate(
        records, sets={"whitelist": WHITELIST}
    )
    records[0]["source_ip"] = "10.0.0.1"
    assert result.examples[0]["source_ip"] == "6.6.6.6"


def test_sum_avg_skip_non_numbers() -> None:
    records = [{"v": 1}, {"v": "2"}, {"v": True}, {"v": math.nan}, {"v": 3.5}, {}]
    assert parse("SUM(s.v)").evaluate(records).value == 4.5
    assert parse("AVG(s.v)").evaluate(records).value == 2.25
    assert parse("SUM(s.v)").evaluate(records).matched == 6
    empty = parse("AVG(s.v) > 0").evaluate([{"v": "x"}])
    assert math.isnan(empty.value) and empty.holds is False
    assert parse("MAX(s.v)").evaluate([]).holds is None
    huge = parse("SUM(s.v)").evaluate([{"v": 10**400}, {"v": -(10**400)}])
    assert math.isnan(huge.value)


def test_booleans_are_not_numbers() -> None:
    records = [{"encrypted": True}, {"encrypted": False}, {"encrypted": 1}]
    assert parse("COUNT(flows WHERE encrypted == TRUE)").evaluate(records).value == 1
    assert parse("COUNT(flows WHERE encrypted == false)").evaluate(records).value == 1
    assert parse("COUNT(flows WHERE encrypted IN [TRUE])").evaluate(records).value == 1
    assert parse("COUNT(flows WHERE encrypted > FALSE)").evaluate(records).value == 0


def test_metric() -> None:
    f = parse("availability >= 99.95")
    assert (f.aggregate, f.stream, f.field) == ("METRIC", None, "availability")
    assert f.evaluate([], metrics={"availability": 99.97}).holds is True
    assert f.evaluate([], metrics={"availability": 99.9}).holds is False
    figure3 = parse("InvalidSourcePacketCount > 0")
    assert figure3.evaluate([], metrics={"InvalidSourcePacketCount": 2}).value == 2.0
    with pytest.raises(FormulaError, match="unknown metric 'availability'"):
        f.evaluate([], metrics={"other": 1.0})
    with pytest.raises(FormulaError, match="not a number"):
        f.evaluate([], metrics={"availability": "high"})  # type: ignore[dict-item]


def test_unknown_set_is_named_before_any_record() -> None:
    f = parse("COUNT(packets WHERE proto == 'tcp' OR source_ip IN allowed)")
    with pytest.raises(FormulaError, match="unknown named set 'allowed'") as info:
        f.evaluate([])
    assert info.value.column == f.text.index("allowed") + 1


@pytest.mark.parametrize("period", [0, -1, math.inf, math.nan])
def test_rate_needs_a_positive_period(period: float) -> None:
    with pytest.raises(ValueError, match="period"):
        parse("RATE(packets)").evaluate(PACKETS, period=period)


def test_tree_and_names() -> None:
    f = parse(
        "SUM(flows.bytes WHERE src NOT IN whitelist AND (port == dst_port OR NOT port IN [1, 'a']))"
        " > 10"
    )
    assert (f.aggregate, f.stream, f.field, f.comparison) == ("SUM", "flows", "bytes", (">", 10))
    assert f.where == And(
        (
            Member("src", True, "whitelist"),
            Or(
                (
                    Compare("port", "==", FieldRef("dst_port")),
                    Not(Member("port", False, (1, "a"))),
                )
            ),
        )
    )
    assert f.set_names() == {"whitelist"}
    assert f.field_names() == {"bytes", "src", "port", "dst_port"}
    assert f.names() == {"whitelist", "bytes", "src", "port", "dst_port"}
    assert parse(str(f)) == f
    with pytest.raises(AttributeError):
        f.stream = "other"  # type: ignore[misc]


def test_figure3_spelling() -> None:
    f = parse("\n   COUNT(ingress packets WHERE source ip NOT IN whitelist)\n   ")
    assert (f.stream, f.where) == ("ingress_packets", Member("source_ip", True, "whitelist"))
    assert str(f) == "COUNT(ingress_packets WHERE source_ip NOT IN whitelist)"


def test_strings_and_escapes() -> None:
    f = parse("COUNT(p WHERE name == 'it\\'s' OR name == \"a\\\\b\" OR name == 'Zürich')")
    assert [c.value for c in f.where.items] == ["it's", "a\\b", "Zürich"]  # type: ignore[union-attr]
    assert parse(str(f)) == f


# --- errors ------------------------------------------------------------------------------------

ERRORS = [
    ("COUNT(packets WHERE a == 1", 27, "expected ')' after the condition"),
    ("COUNT packets", 7, "expected '(' after COUNT"),
    ("COUNT()", 7, "expected a stream name"),
    ("SUM(packets WHERE a == 1)", 13, "SUM needs a field"),
    ("COUNT(packets.bytes)", 14, "takes no '.field'"),
    ("COUNT(packets WHERE)", 20, "expected a field name"),
    ("COUNT(packets WHERE a = 1)", 23, "use '=='"),
    ("COUNT(packets WHERE a ! 1)", 23, "'!' must be followed by '='"),
    ("COUNT(packets WHERE a NOT 1)", 27, "expected IN"),
    ("COUNT(packets WHERE a IN)", 25, "expected a set name"),
    ("COUNT(packets WHERE a IN [1, x])", 30, "in the list"),
    ("COUNT(packets WHERE a IN [1 2])", 29, "expected ',' or ']'"),
    ("COUNT(packets WHERE a == )", 26, "expected a number, string"),
    ("COUNT(packets WHERE (a == 1)", 29, "expected ')' after the condition"),
    ("COUNT(packets WHERE a == 'x)", 26, "string is not closed"),
    ("COUNT(packets WHERE a == 'x\\n')", 28, "unknown escape"),
    ("COUNT(packets) ==", 18, "expected a number after '=='"),
    ("COUNT(packets) == 'x'", 19, "expected a number"),
    ("COUNT(packets) 0", 16, "expected a comparison or the end"),
    ("COUNT(packets) == 0 AND x", 21, "expected a comparison or the end"),
    ("COUNT(packets WHERE a == 1.)", 26, "malformed number"),
    ("COUNT(packets WHERE a == 12abc)", 26, "malformed number"),
    ("COUNT(packets WHERE a == .5)", 26, "must start with a digit"),
    ("WHERE", 1, "metric name"),
    ("", None, "empty"),
    ("  \n ", None, "empty"),
]


@pytest.mark.parametrize(("text", "column", "fragment"), ERRORS)
def test_errors_carry_the_column(text: str, column: int | None, fragment: str | None) -> None:
    with pytest.raises(FormulaError) as info:
        parse(text)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.column == column
    if fragment is not None:
        assert fragment in error.message
    if column is not None:
        first, excerpt, caret = str(error).split("\n")
        assert first.startswith(f"col {column}: ")
        assert caret.index("^") == len("  ") + column - 1  # short texts are shown whole
        assert excerpt.strip() in text.replace("\n", " ")


def test_excerpt_of_a_long_formula_is_a_window() -> None:
    text = "COUNT(packets WHERE " + " OR ".join(f"a{i} == {i}" for i in range(60)) + " OR )"
    with pytest.raises(FormulaError) as info:
        parse(text)
    _, excerpt, caret = str(info.value).split("\n")
    assert excerpt.startswith("  ...") and len(excerpt) < 80
    assert excerpt[caret.index("^")] == ")"


# --- hostile input -----------------------------------------------------------------------------

HOSTILE = [
    "__import__('os').system('true')",
    "COUNT(packets WHERE __class__ == 1)",
    "lambda: 0",
    "eval('1')",
    "COUNT(packets WHERE a == 1); import os",
    "a" * (MAX_LENGTH + 1),
    "9" * 5000,
    "COUNT(p WHERE a == " + "9" * 100 + ")",
    "COUNT(p WHERE a == 1e999)",
    "COUNT(p) > -1e309",
    "(" * 100_000,
    "COUNT(p WHERE " + "(" * (MAX_DEPTH + 1) + "a == 1" + ")" * (MAX_DEPTH + 1) + ")",
    "COUNT(p WHERE " + "NOT " * (MAX_DEPTH + 1) + "a == 1)",
    "COUNT(p WHERE a == 1\x00)",
    "COUNT(p WHERE a == 'x\x00')",
    "COUNT(p WHERE a == 'safe\u202e')",  # right-to-left override
    "COUNT(p WHERE a\u200b == 1)",  # zero-width space
    "ＣＯＵＮＴ(p)",  # fullwidth letters
    "COUNT(p WHERE ıd == 1)",  # dotless i
    "COUNT(p WHERE a == 1\u00a0)",  # no-break space
    "COUNT(p WHERE a == '\ud800')",  # lone surrogate
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_is_refused(text: str) -> None:
    with pytest.raises(FormulaError) as info:
        parse(text)
    assert "\x00" not in str(info.value) and "\u202e" not in str(info.value)


def test_depth_limit_is_exact() -> None:
    inside = "(" * (MAX_DEPTH - 1) + "a == 1" + ")" * (MAX_DEPTH - 1)
    f = parse(f"COUNT(p WHERE NOT {inside})")
    assert f.evaluate([{"a": 2}]).value == 1
    with pytest.raises(FormulaError, match="deeper"):
        parse(f"COUNT(p WHERE NOT NOT {inside})")


def test_long_list_literal() -> None:
    f = parse("COUNT(p WHERE a IN [" + ",".join(str(i) for i in range(500)) + "])")
    assert f.evaluate([{"a": 499}, {"a": 500}, {"a": 7.0}, {"a": "7"}]).value == 2


def test_not_a_string() -> None:
    with pytest.raises(FormulaError, match="string"):
        parse(b"COUNT(p)")  # type: ignore[arg-type]


def test_odd_records_do_not_crash() -> None:
    class Weird:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no")

        __hash__ = None  # type: ignore[assignment]

    records = [{"a": Weird()}, {"a": [1]}, {"a": None}, {"a": {"x": 1}}, {"a": math.nan}]
    for text in ("COUNT(p WHERE a == a)", "COUNT(p WHERE a IN s)", "COUNT(p WHERE a < 1)"):
        result = parse(text).evaluate(records, sets={"s": [Weird(), [1], None, math.nan]})
        assert 0 <= result.value <= len(records)


# --- properties --------------------------------------------------------------------------------

TOKENS = [
    "COUNT", "rate", "Sum", "AVG", "MAX", "min", "WHERE", "AND", "or", "NOT", "IN", "TRUE",
    "false", "(", ")", "[", "]", ",", ".", "==", "!=", "<", "<=", ">", ">=", "=", "!", "-",
    "packets", "source_ip", "whitelist", "bytes", "0", "1.5", "-2", "1e3", "'x'", '"y"', "'",
    "__import__", "\x00", "é", "\u202e", " ",
]  # fmt: skip


def soup() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=80),
        st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join),
        st.lists(st.sampled_from(TOKENS), max_size=30).map("".join),
    )


@settings(max_examples=400)
@given(soup())
def test_parse_returns_or_raises_formula_error(text: str) -> None:
    try:
        f = parse(text)
    except FormulaError as error:
        assert error.column is None or 1 <= error.column <= len(text) + 1
        return
    assert isinstance(f, Formula)
    again = parse(str(f))
    assert again == f and str(again) == str(f)
    names = f.names()
    result = f.evaluate(
        [{n: 1 for n in names}, {}],
        sets={n: [1] for n in names},
        metrics={n: 1.0 for n in names},
    )
    assert isinstance(result.value, float)


FIELDS = ["a", "b", "src_ip"]
SETS = ["allow", "deny"]
SAFE_CHARS = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
LITERALS = st.one_of(
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(SAFE_CHARS, max_size=6),
    st.booleans(),
)
VALUES = st.one_of(
    LITERALS,
    st.none(),
    st.just(math.nan),
    st.just(math.inf),
    st.lists(st.integers(0, 3), max_size=2),
    st.sampled_from(["x", "y", 0, 1]),
)
OPS = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
ATOMS = st.one_of(
    st.builds(
        Compare,
        st.sampled_from(FIELDS),
        OPS,
        st.one_of(LITERALS, st.builds(FieldRef, st.sampled_from(FIELDS))),
    ),
    st.builds(
        Member,
        st.sampled_from(FIELDS),
        st.booleans(),
        st.one_of(st.sampled_from(SETS), st.lists(LITERALS, max_size=4).map(tuple)),
    ),
)
CONDITIONS = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        inner.map(Not),
    ),
    max_leaves=10,
)
RECORDS = st.lists(
    st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=len(FIELDS)), max_size=8
)


def depth(cond: Any) -> int:
    if isinstance(cond, And | Or):
        return 1 + max(depth(c) for c in cond.items)
    return 1 + depth(cond.item) if isinstance(cond, Not) else 0


def kind(v: Any) -> Any:
    if isinstance(v, bool):
        return bool
    return (int, float) if isinstance(v, int | float) else type(v)


def same(a: Any, b: Any) -> bool:
    return kind(a) == kind(b) and a == b


def reference(cond: Any, record: dict[str, Any], sets: dict[str, list[Any]]) -> bool:
    """The documented semantics, written independently of the module."""
    if isinstance(cond, And):
        return all(reference(c, record, sets) for c in cond.items)
    if isinstance(cond, Or):
        return any(reference(c, record, sets) for c in cond.items)
    if isinstance(cond, Not):
        return not reference(cond.item, record, sets)
    if cond.field not in record:
        return False
    a = record[cond.field]
    if isinstance(cond, Member):
        pool = sets[cond.source] if isinstance(cond.source, str) else cond.source
        return any(same(a, x) for x in pool) != cond.negated
    if isinstance(cond.value, FieldRef):
        if cond.value.name not in record:
            return False
        b = record[cond.value.name]
    else:
        b = cond.value
    if kind(a) != kind(b):
        return False
    if cond.op == "==":
        return a == b
    if cond.op == "!=":
        return a != b
    if kind(a) is bool:
        return False
    try:
        return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[cond.op])
    except TypeError:
        return False


@settings(max_examples=300)
@given(
    CONDITIONS,
    RECORDS,
    st.lists(VALUES, max_size=4),
    st.lists(VALUES, max_size=4),
    st.floats(0.1, 100),
)
def test_well_formed_formulas_round_trip_and_evaluate(
    cond: Any, records: list[dict[str, Any]], allow: list[Any], deny: list[Any], period: float
) -> None:
    assume(depth(cond) < MAX_DEPTH)
    text = f"RATE(flows WHERE {cond}) >= 1"
    assume(len(text) <= MAX_LENGTH)
    f = parse(text)
    assert str(parse(str(f))) == str(f)
    assert parse(str(f)) == f
    sets = {"allow": allow, "deny": deny}
    expected = [r for r in records if reference(cond, r, sets)]
    result = f.evaluate(records, sets=sets, period=period)
    assert result.matched == len(expected)
    assert result.value == pytest.approx(len(expected) / period)
    assert result.holds is (len(expected) / period >= 1)
    assert list(result.examples) == expected[:MAX_EXAMPLES]
    direct = Formula(text, "COUNT", "flows", None, cond, None).evaluate(records, sets=sets)
    assert direct.matched == len(expected) and direct.holds is None
    for agg in ("SUM", "AVG", "MAX", "MIN"):
        value = parse(f"{agg}(flows.a WHERE {cond}) < 0").evaluate(records, sets=sets)
        assert isinstance(value.value, float) and value.matched == len(expected)


# --- prefix sets and weighted streams ---------------------------------------------------------


def test_prefix_sets_hold_every_address_of_their_prefixes() -> None:
    whitelist = Prefixes(["10.1.0.0/16", "192.0.2.7", "2001:db8::/32"])
    assert "10.1.255.3" in whitelist and " 192.0.2.7" in whitelist and "2001:db8::1" in whitelist
    assert "10.2.0.1" not in whitelist and "192.0.2.8" not in whitelist
    assert (
        "not an address" not in whitelist and 167837953 not in whitelist and None not in whitelist
    )
    assert list(whitelist) == ["10.1.0.0/16", "192.0.2.7/32", "2001:db8::/32"]
    formula = parse("COUNT(packets WHERE source_ip NOT IN whitelist)")
    packets = [{"source_ip": "10.1.9.9"}, {"source_ip": "198.51.100.4"}, {"source_ip": 7}]
    assert formula.evaluate(packets, sets={"whitelist": whitelist}).value == 2.0


@pytest.mark.parametrize("bad", ["10.1.0.0/33", "10.1.0.1/16", "", "host"])
def test_prefix_sets_refuse_bad_prefixes(bad: str) -> None:
    with pytest.raises(ValueError, match="not an IP address or CIDR prefix"):
        Prefixes(["10.0.0.0/8", bad])


def test_weight_makes_count_and_rate_sum_a_field() -> None:
    flows = [
        {"src": "a", "packets": 10.0},
        {"src": "b", "packets": 2.5},
        {"src": "a", "packets": -4},  # unusable weights count 0
        {"src": "a", "packets": "many"},
        {"src": "a"},
    ]
    count = parse("COUNT(flows WHERE src == 'a')")
    assert count.evaluate(flows).value == 4.0
    weighted = count.evaluate(flows, weight="packets")
    assert (weighted.value, weighted.matched) == (10.0, 4)
    rate = parse("RATE(flows) > 6")
    result = rate.evaluate(flows, weight="packets", period=2.0)
    assert (result.value, result.holds) == (6.25, True)


def test_select_returns_every_matching_record() -> None:
    formula = parse("COUNT(packets WHERE source_ip NOT IN whitelist) == 0")
    chosen = formula.select(PACKETS, sets={"whitelist": WHITELIST})
    assert len(chosen) == formula.evaluate(PACKETS, sets={"whitelist": WHITELIST}).matched
    assert all(record["source_ip"] not in WHITELIST for record in chosen)
    assert parse("COUNT(packets)").select(PACKETS) == PACKETS
