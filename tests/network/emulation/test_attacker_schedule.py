"""The attacker's seeded schedule (secmas.network.emulation.attacker_process), and that
it is the attacker's alone: the places the run hands it say nothing about when, and it
runs as a process of its own that says what it did only when stopped."""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.network.emulation import attacker_process
from secmas.network.emulation.attacker_process import (
    OUTSIDE,
    AttackerGroup,
    HiddenAttacker,
    Places,
    draw_schedule,
    scaled_settings,
)
from secmas.network.emulation.plan import emulation_plan
from secmas.network.emulation.workload import attack_rate
from secmas.network.incident import inside_kinds
from secmas.scenario.loader import load_scenario

SCENARIOS = Path(__file__).parents[3] / "scenarios"


def test_the_same_seed_draws_the_same_schedule_and_another_seed_another() -> None:
    assert draw_schedule(7, 10.0, 300.0) == draw_schedule(7, 10.0, 300.0)
    assert draw_schedule(7, 10.0, 300.0) != draw_schedule(8, 10.0, 300.0)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_schedule_has_both_lanes_overlaps_allowed_one_attack_per_lane(seed: int) -> None:
    planned = draw_schedule(seed, 10.0, 400.0)
    for lane in (set(OUTSIDE), inside_kinds()):
        mine = [p for p in planned if p.kind in lane]
        assert mine and all(p.start >= 10.0 and p.stop > p.start for p in mine)
        assert all(a.stop <= b.start for a, b in itertools.pairwise(mine))


def test_across_seeds_attacks_overlap_and_some_outlive_the_run() -> None:
    schedules = [draw_schedule(seed, 10.0, 300.0) for seed in range(20)]
    assert any(p.stop > 300.0 for s in schedules for p in s)
    assert any(
        a.start < b.stop and b.start < a.stop for s in schedules for a in s for b in s if a != b
    )


def test_the_run_hands_the_attacker_places_and_a_seed_never_a_schedule() -> None:
    fields = {f.name for f in dataclasses.fields(Places)}
    assert fields == {
        "groups",
        "server",
        "cgroup",
        "port",
        "origin",
        "start",
        "end",
        "seed",
        "folder",
        "settings",
    }
    import secmas.analytics.loop as loop
    import secmas.pipeline.realcnf as realcnf

    for module in (loop, realcnf):  # the loop's code cannot reach the attacker's schedule
        assert attacker_process.__name__ not in Path(module.__file__).read_text(encoding="utf-8")
        assert not hasattr(module, "draw_schedule")


def test_the_attacker_is_a_process_of_its_own_stopped_with_its_group(tmp_path: Path) -> None:
    """Launched, it draws its schedule in its own process (nothing due before the stop
    here, so no namespace is touched); stopped, its whole group is gone and it has said
    what it did."""
    nowhere = AttackerGroup("none", 0, ("10.66.0.1",))
    attacker = HiddenAttacker(seed=3, start=3600.0)
    places = Places((nowhere,), nowhere, "", 8000, time.time(), 3600.0, 7200.0, 3, "")
    running = attacker.launch(places, tmp_path)
    try:
        assert running.process.pid != os.getpid()
        assert os.getpgid(running.process.pid) == running.process.pid  # its own group
        for _ in range(600):  # it says it is ready (its file) once it can be stopped
            if running.out.exists() or running.process.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        episodes = running.stop()
    assert episodes == []
    with pytest.raises(ProcessLookupError):
        os.killpg(running.process.pid, 0)


def test_the_attacks_hit_as_hard_as_the_scenarios_own_attack_at_the_runs_scale() -> None:
    """The hidden attacker's floods carry the scripted mixed attack's bytes (six attackers
    at the run's scale, two of each kind), one kind at a time, not the recorder's full-rate
    ones that load the server's link."""
    plan = emulation_plan(load_scenario(SCENARIOS / "cnf-emulated.yaml"))
    scripted = {
        kind: sum(
            attack_rate(plan.scale, g, a)
            for g in plan.groups
            for a in g.attackers
            if a.kind == kind
        )
        for kind in OUTSIDE
    }
    settings = scaled_settings(plan)
    kinds = len(OUTSIDE)  # the scripted attack shares its bytes among the three kinds
    assert settings.http_rps == pytest.approx(kinds * scripted["http_flood"])
    assert settings.syn_pps == pytest.approx(kinds * scripted["syn_flood"])
    assert settings.slowloris_opening == pytest.approx(kinds * scripted["slowloris"])
    assert settings.http_rps < 0.5 * attacker_process.AttackSettings().http_rps


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_no_attack_starts_in_the_runs_last_ten_seconds(seed: int) -> None:
    planned = draw_schedule(seed, 10.0, 120.0)
    assert all(p.start <= 120.0 - 10.0 for p in planned), planned
