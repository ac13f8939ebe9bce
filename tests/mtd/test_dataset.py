"""The 34 feasible load classes and the migration dataset."""

from __future__ import annotations

from collections import Counter

import numpy as np

from secmas.mtd.dataset import (
    FEATURES,
    RANGES,
    REPEATS,
    all_classes,
    by_method,
    features,
    generate,
    load_classes,
)
from secmas.mtd.migration import METHODS


def test_108_combinations_of_which_34_are_feasible() -> None:
    assert len(all_classes()) == 3 * 3 * 3 * 4 == 108
    classes = load_classes()
    assert len(classes) == 34
    assert len({c.code for c in classes}) == 34
    assert Counter(c.cpu for c in classes) == {"low": 2, "medium": 16, "high": 16}


def test_high_ram_or_storage_needs_medium_or_high_cpu() -> None:
    for c in load_classes():
        if c.ram == "high" or c.disk == "high":
            assert c.cpu in ("medium", "high")
    codes = {c.code for c in load_classes()}
    assert {"LLL0", "LLLL", "MHL0", "HLH0", "HMML", "HLLH"} <= codes
    assert "LHL0" not in codes and "LLH0" not in codes and "HHHH" not in codes


def test_generate_is_uniform_over_methods_and_reproducible() -> None:
    data = generate(seed=5, repeats=2)
    assert len(data) == 34 * 2 * 4 and len(data.instances) == 68
    per_class = Counter((r.instance.load_class.code, r.method) for r in data.migrations())
    assert set(per_class.values()) == {2}
    assert all(set(by_method(g)) == set(METHODS) for g in data.records)
    again = generate(seed=5, repeats=2)
    assert data.records == again.records
    assert generate(seed=6, repeats=2).records != data.records


def test_default_size_is_over_6000_migrations() -> None:
    assert 34 * REPEATS * len(METHODS) > 6000


def test_samples_lie_within_their_level_ranges() -> None:
    data = generate(seed=1, repeats=3)
    for inst in data.instances:
        c, load = inst.load_class, inst.load
        for resource, level, value in (
            ("cpu", c.cpu, load.cpu),
            ("ram", c.ram, load.memory_mb),
            ("disk", c.disk, load.disk_mbps),
            ("net", c.net, load.net_mbps),
        ):
            low, high = RANGES[resource][level]
            assert low <= value <= high
        assert 12.5 <= inst.bandwidth <= 125.0


def test_matrix_and_outcomes_shapes() -> None:
    data = generate(seed=2, repeats=1)
    assert data.matrix().shape == (34, len(FEATURES))
    dt = data.outcomes("downtime_s")
    assert dt.shape == (34, 4) and (dt > 0).all()
    first = data.instances[0]
    assert np.allclose(data.matrix()[0], features(first.load, first.bandwidth))
