"""Expanding a spec into run keys: every combination once, keys stable and unique."""

from __future__ import annotations

import itertools
import math

from hypothesis import given
from hypothesis import strategies as st

from secmas.experiment.grid import encode, expand, points
from secmas.experiment.spec import SweepSpec

values = st.lists(
    st.one_of(
        st.integers(-5, 5),
        st.booleans(),
        st.sampled_from(["pop0", "pop1"]),
        st.lists(st.integers(1, 9), min_size=1, max_size=2),  # e.g. an attack's ports
    ),
    min_size=1,
    max_size=3,
    unique_by=encode,
)


@given(
    rings=st.lists(st.integers(3, 9), min_size=1, max_size=3, unique=True),
    seeds=st.lists(st.integers(0, 50), min_size=1, max_size=3, unique=True),
    repetitions=st.integers(1, 3),
    rate=values,
    goals=values,
)
def test_every_combination_once(
    rings: list[int], seeds: list[int], repetitions: int, rate: list[object], goals: list[object]
) -> None:
    spec = SweepSpec.model_validate(
        {
            "name": "g",
            "scenarios": [{"ring": rings}],
            "seeds": seeds,
            "repetitions": repetitions,
            "parameters": {"attack.rate": rate, "load.synthetic_goals": goals},
        }
    )
    keys = expand(spec)
    assert len(keys) == spec.runs == len(rings) * len(seeds) * repetitions * len(rate) * len(goals)
    assert len({key.id for key in keys}) == len(keys)
    assert [key.id for key in expand(spec)] == [key.id for key in keys]  # stable
    combos = {
        (
            k.point.scenario,
            encode(k.point.settings["attack.rate"]),
            encode(k.point.settings["load.synthetic_goals"]),
            k.seed,
            k.repetition,
        )
        for k in keys
    }
    wanted = itertools.product(
        [f"ring-{n}" for n in rings],
        map(encode, rate),
        map(encode, goals),
        seeds,
        range(repetitions),
    )
    assert combos == set(wanted)
    assert len(points(spec)) == math.prod((len(rings), len(rate), len(goals)))
    # the whole grid is covered before any point is repeated
    first = keys[: len(points(spec))]
    assert {k.point for k in first} == set(points(spec))


def test_key_columns_name_the_run() -> None:
    spec = SweepSpec.model_validate(
        {"name": "g", "scenarios": [{"ring": 6}], "parameters": {"load": [{"pop": "pop0"}]}}
    )
    (key,) = expand(spec)
    assert key.id == 'ring-6|load={"pop":"pop0"}|seed=0|rep=0'
    assert key.columns()["load"] == '{"pop":"pop0"}'
