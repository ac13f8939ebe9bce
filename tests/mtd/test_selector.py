"""The ML method selector against always-pre-copy and the oracle, on held-out seeds."""

from __future__ import annotations

import numpy as np
import pytest

from secmas.mtd.dataset import Dataset, Instance, Record, generate, load_classes
from secmas.mtd.migration import METHODS, Load, Method, Phases
from secmas.mtd.selector import MethodSelector, Objective, evaluate, model_choice, oracle_labels


@pytest.fixture(scope="module")
def train() -> Dataset:
    return generate(seed=10, repeats=12)


@pytest.fixture(scope="module")
def test() -> Dataset:
    return generate(seed=11, repeats=4)


def phases(method: Method, downtime: float, total: float) -> Phases:
    zero = dict.fromkeys(
        (
            "predump_s",
            "predump_mb",
            "predump_transfer_s",
            "dump_s",
            "dump_mb",
            "volume_mb",
            "dump_transfer_s",
            "restore_s",
            "lazy_s",
            "fault_stall_s",
            "approx_downtime_s",
        ),
        0.0,
    )
    return Phases(method=method, downtime_s=downtime, total_s=total, **zero)


def test_evaluate_by_hand() -> None:
    inst = Instance(0, load_classes()[0], Load(0.1, 100.0, 0.1, 0.0), 50.0)
    # (downtime, total): score = downtime + 0.1·total → 10.0, 3.0, 2.5, 2.2: hybrid best
    values = {"cold": (9.0, 10.0), "pre-copy": (2.0, 10.0), "post-copy": (1.0, 15.0)}
    values["hybrid"] = (1.0, 12.0)
    group = tuple(Record(inst, phases(Method(m), *values[m.value])) for m in METHODS)
    data = Dataset((inst,), (group,), seed=0)
    obj = Objective()
    assert list(oracle_labels(data, obj)) == [METHODS.index(Method.HYBRID)]
    pre = evaluate("pre", [METHODS.index(Method.PRECOPY)], data, obj)
    assert pre.accuracy == 0.0
    assert pre.regret_score == pytest.approx(3.0 - 2.2)
    assert pre.regret_downtime_s == pytest.approx(1.0)
    assert pre.regret_total_s == pytest.approx(-2.0)
    best = evaluate("oracle", [3], data, obj)
    assert best.accuracy == 1.0 and best.regret_score == 0.0
    assert best.chosen == {"cold": 0, "pre-copy": 0, "post-copy": 0, "hybrid": 1}


def test_selector_beats_always_pre_copy_on_held_out_seeds(train, test) -> None:
    obj = Objective()
    selector = MethodSelector(seed=0).fit(train)
    chosen = selector.predict_indices(test.matrix())
    ml = evaluate("ml", chosen, test, obj)
    pre = evaluate("pre", np.full(len(chosen), METHODS.index(Method.PRECOPY)), test, obj)
    oracle = evaluate("oracle", oracle_labels(test, obj), test, obj)
    assert oracle.regret_score == 0 and oracle.accuracy == 1
    assert ml.accuracy > 0.65 > pre.accuracy
    assert 0 <= ml.regret_score < pre.regret_score / 5
    assert ml.mean_downtime_s < pre.mean_downtime_s


def test_select_one_container(train) -> None:
    selector = MethodSelector(kind="gradient_boosting", seed=0).fit(train)
    heavy = Load(cpu=0.85, memory_mb=1800.0, disk_mbps=0.3, net_mbps=0.0)
    assert selector.select(heavy, 15.0) is Method.POSTCOPY
    assert model_choice(heavy, 15.0) is Method.POSTCOPY


def test_unfitted_and_unknown() -> None:
    with pytest.raises(RuntimeError):
        MethodSelector().select(Load(0.1, 10.0, 0.0, 0.0), 10.0)
    with pytest.raises(ValueError):
        MethodSelector(kind="svm")  # type: ignore[arg-type]
