"""The real CNF's loop detector against plain Prometheus alerting rules.

Both run on the same recorded telemetry of the emulated CNF (`secmas detect dataset
--dataplane emulated`: real nginx, real attacks, read back from Prometheus) and learn from
the same normal behaviour: the first `--train-share` of the normal recording; the rest of
it is held out and every alert there is a false one.

* The loop's detector: what `pipeline.cnf_emulated.DetectorChoice` trains by default (the
  robust z-score, windows of 4 steps, static threshold), its flags held for `hold` windows
  (`analytics.persistence.Persistence`, the loop's `for:`; by default the real-CNF loop's
  `pipeline.realcnf.PERSISTENCE`), the limit scaled by `m`.
* Prometheus rules (`analytics.alertrules`): `metric > normal max × factor` on seven
  metrics with `for:` a duration; the rules here are factor 1.5, `for: 1s`.

Per setting: false alerts per hour on the held-out normal part (alerts = starts of alerting
stretches), and per attack episode of the attack recordings its detection delay (the
first alert starting in [start, stop + `GRACE`) − start; an alert still on from before the
episode does not count). Both families are swept (m × hold,
factor × for); the table sets them side by side at matched rates: the shortest median
delay each reaches within a false-alarm budget, and the fewest false alarms within a delay
budget (every episode detected). An alert still on when an episode starts hides it: the
recordings run no remedies, and the share of their normal rows spent alerting says how
much of them a detector never cleared on. The decision engine's choice (`decision.decide`
on the loop's alert in each episode, the loop having learnt the normal stretch before it,
as after its new normal: `confusion.met_episodes`) is counted as a confusion matrix,
attack kind × first remedy. With `--other`, a second CNF instance's recording: both trained on this
instance and applied there, beside both trained on that instance's own normal part.

What this does not measure: the loop's mitigations (the recordings run none, so an attack
goes on for its whole episode) and its re-baselining; `secmas demo --scenario cnf-attack
--dataplane emulated` scores those live.

    python benchmarks/bench_cnf_loop.py [--normal CSV] [--attacks CSV ...] [--other CSV]

Writes benchmarks/results/cnf_loop.json, cnf_loop.md and cnf_loop.png.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from machine import describe
from secmas.analytics.alertrules import DEFAULT_FACTOR, DEFAULT_FOR, evaluate_rules
from secmas.analytics.alertrules import rules_from_normal as prometheus_rules
from secmas.analytics.confusion import ConfusionMatrix, Episode, met_episodes
from secmas.analytics.csvdata import CSVDataError, read_recording, read_series
from secmas.analytics.events import NORMAL, events
from secmas.analytics.freshness import FrozenRecordingError
from secmas.analytics.persistence import Persistence
from secmas.analytics.registry import fit_detector
from secmas.analytics.scoring import Fitting, WindowDetector
from secmas.network.dataplane.cnf import METRICS
from secmas.pipeline.cnf_emulated import DetectorChoice
from secmas.pipeline.realcnf import PERSISTENCE

RESULTS = Path(__file__).parent / "results"
RECORDINGS = Path(__file__).parent / "recordings"
STEP = 0.5
"""The recordings' scrape interval (s), when a file has no timestamps."""
GRACE = 5.0
"""Seconds after an episode's stop in which an alert still counts as detecting it (the
CNF's counters drain); alerts in them are neither detections of a later episode nor false."""
FACTORS = (1.0, 1.25, 1.5, 2.0, 3.0, 5.0)
HOLDS_S = (0.0, 0.5, 1.0, 2.0, 3.0)
SCALES = (1.0, 1.5, 2.0, 3.0, 5.0, 8.0)
HOLDS_W = (1, 2, 3, 4, 6)
FA_BUDGETS = (0.0, 5.0, 20.0)
DELAY_BUDGETS = (1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Recording:
    name: str
    times: np.ndarray
    values: np.ndarray
    labels: np.ndarray

    def part(self, start: int, stop: int) -> Recording:
        span = slice(start, stop)
        return Recording(self.name, self.times[span], self.values[span], self.labels[span])


def load(path: Path, accept_frozen: bool) -> Recording:
    """A recording in `METRICS` order (SystemExit naming the file when it cannot be used)."""
    try:
        series = read_series(path) if accept_frozen else read_recording(path)
        values = series.columns(METRICS)
    except (CSVDataError, FrozenRecordingError) as exc:
        raise SystemExit(f"{path}: {exc}") from None
    seconds = series.seconds
    times = STEP * np.arange(len(values)) if seconds is None else seconds - seconds[0]
    truth = series.truth()
    labels = np.full(len(values), NORMAL, dtype=object) if truth is None else truth
    return Recording(path.name, times, values, labels)


# -- alerting of either family: per step, whether it alerts ---------------------------------
def rules_alerting(train: Recording, test: Recording, factor: float, hold: float) -> np.ndarray:
    rules = prometheus_rules(train.values, METRICS, factor=factor, hold=hold)
    return evaluate_rules(rules, test.times, test.values, METRICS).alerting


@dataclass(frozen=True)
class Scored:
    """The loop detector's windows over a recording: score, limit, errors, end step."""

    detector: WindowDetector
    score: np.ndarray
    limit: np.ndarray
    per_feature: np.ndarray
    end: np.ndarray
    steps: int


def loop_detector(train: Recording) -> WindowDetector:
    choice = DetectorChoice()
    return fit_detector(choice.model, train.values, METRICS, Fitting(window=choice.window))


def scored(detector: WindowDetector, test: Recording) -> Scored:
    s = detector.score(test.values)
    return Scored(detector, s.score, s.limit, s.per_feature, s.end, len(test.values))


def loop_alerting(s: Scored, scale: float, hold: int) -> np.ndarray:
    """Per step: whether the loop's persisted alert is on at the window ending there."""
    persistence = Persistence(hold)
    alerting = np.zeros(s.steps, dtype=bool)
    for score, limit, end in zip(s.score, s.limit, s.end, strict=True):
        alerting[end] = persistence.observe(bool(score > scale * limit))
    return alerting


# -- scoring against the ground truth ----------------------------------------------------------
def onsets(alerting: np.ndarray) -> np.ndarray:
    return np.flatnonzero(alerting & ~np.concatenate(([False], alerting[:-1])))


def per_hour(count: int, times: np.ndarray) -> float:
    hours = (times[-1] - times[0] + STEP) / 3600.0 if len(times) else 0.0
    return count / hours if hours > 0 else float("nan")


def first_alert(alerting: np.ndarray, rec: Recording, start: int, stop: int) -> int | None:
    """The step of the first alert (an alerting stretch's start) of the episode of steps
    [start, stop), `GRACE` after it included; an alert still on from before is not one."""
    until = rec.times[stop - 1] + STEP + GRACE
    new = np.zeros(len(alerting), dtype=bool)
    new[onsets(alerting)] = True
    inside = np.flatnonzero(new & (rec.times >= rec.times[start]) & (rec.times < until))
    return int(inside[0]) if inside.size else None


def episode_delays(alerting: np.ndarray, rec: Recording) -> list[dict[str, Any]]:
    """Each episode's kind and delay (None: missed)."""
    found = []
    for event in events(rec.labels):
        start = rec.times[event.start]
        at = first_alert(alerting, rec, event.start, event.stop)
        delay = None if at is None else float(rec.times[at] - start)
        found.append({"kind": event.label, "start_s": float(start), "delay_s": delay})
    return found


def stray_alerts(alerting: np.ndarray, rec: Recording) -> int:
    """Alerts starting in an attack recording's normal stretches, away from episodes."""
    busy = np.zeros(len(rec.times), dtype=bool)
    for event in events(rec.labels):
        stop = rec.times[event.stop - 1] + STEP + GRACE
        busy |= (rec.times >= rec.times[event.start]) & (rec.times < stop)
    return int(sum(not busy[i] for i in onsets(alerting)))


def alerting_share(alerting: Callable[[Recording], np.ndarray], runs: list[Recording]) -> float:
    """The share of the attack runs' normal rows (between episodes) spent alerting."""
    on = np.concatenate([alerting(rec)[rec.labels == NORMAL] for rec in runs])
    return float(on.mean()) if on.size else 0.0


def outcome(normal_alerting: np.ndarray, held_out: Recording, found: list[dict]) -> dict:
    delays = [e["delay_s"] for e in found if e["delay_s"] is not None]
    return {
        "false_alerts": len(onsets(normal_alerting)),
        "false_alerts_per_hour": per_hour(len(onsets(normal_alerting)), held_out.times),
        "detected": len(delays),
        "episodes": len(found),
        "median_delay_s": statistics.median(delays) if delays else None,
        "max_delay_s": max(delays) if delays else None,
    }


# -- the two sweeps ---------------------------------------------------------------------------
def sweep_rules(train: Recording, held_out: Recording, attacks: list[Recording]) -> list[dict]:
    rows = []
    for factor in FACTORS:
        for hold in HOLDS_S:
            found = [
                e
                for rec in attacks
                for e in episode_delays(rules_alerting(train, rec, factor, hold), rec)
            ]
            normal = rules_alerting(train, held_out, factor, hold)
            rows.append({"factor": factor, "for_s": hold, **outcome(normal, held_out, found)})
            rows[-1]["per_episode"] = found
    return rows


def sweep_loop(normal: Scored, held_out: Recording, attacks: list[tuple[Scored, Recording]]):
    rows = []
    for scale in SCALES:
        for hold in HOLDS_W:
            found = [
                e for s, rec in attacks for e in episode_delays(loop_alerting(s, scale, hold), rec)
            ]
            on_normal = loop_alerting(normal, scale, hold)
            rows.append({"scale": scale, "hold": hold, **outcome(on_normal, held_out, found)})
            rows[-1]["per_episode"] = found
    return rows


def best_within_fa(rows: list[dict], budget: float) -> dict | None:
    """The setting detecting most episodes, then soonest, within `budget` false alerts/h."""
    fits = [r for r in rows if r["false_alerts_per_hour"] <= budget and r["detected"]]
    return min(fits, key=lambda r: (-r["detected"], r["median_delay_s"]), default=None)


def best_within_delay(rows: list[dict], budget: float) -> dict | None:
    """The setting with fewest false alerts that detects every episode, median ≤ `budget`."""
    fits = [
        r
        for r in rows
        if r["detected"] == r["episodes"] and r["median_delay_s"] is not None
        if r["median_delay_s"] <= budget
    ]
    return min(fits, key=lambda r: (r["false_alerts_per_hour"], r["median_delay_s"]), default=None)


def by_kind(found: list[dict]) -> dict[str, dict[str, Any]]:
    kinds: dict[str, dict[str, Any]] = {}
    for e in found:
        k = kinds.setdefault(e["kind"], {"episodes": 0, "detected": 0, "delays_s": []})
        k["episodes"] += 1
        if e["delay_s"] is not None:
            k["detected"] += 1
            k["delays_s"].append(e["delay_s"])
    for k in kinds.values():
        k["median_delay_s"] = statistics.median(k["delays_s"]) if k["delays_s"] else None
    return kinds


# -- the decision engine's choices -----------------------------------------------------------
def decisions(rec: Recording, hold: int) -> list[Episode]:
    """Per episode of a kind the DE knows: its first remedy on the loop's alert, the loop
    having learnt the normal stretch before it (`confusion.met_episodes`)."""
    choice = DetectorChoice()

    def fit(normal: np.ndarray) -> WindowDetector:
        return fit_detector(choice.model, normal, METRICS, Fitting(window=choice.window))

    return met_episodes(rec.values, rec.labels, fit, hold)


# -- one instance, and another ---------------------------------------------------------------
def split(normal: Recording, share: float) -> tuple[Recording, Recording]:
    cut = int(len(normal.values) * share)
    return normal.part(0, cut), normal.part(cut, len(normal.values))


def default_pair(
    train: Recording, held_out: Recording, attacks: list[Recording], hold: int
) -> dict:
    detector = loop_detector(train)
    loop_found = [
        e
        for rec in attacks
        for e in episode_delays(loop_alerting(scored(detector, rec), 1.0, hold), rec)
    ]
    loop = outcome(loop_alerting(scored(detector, held_out), 1.0, hold), held_out, loop_found)
    rule_found = [
        e
        for rec in attacks
        for e in episode_delays(rules_alerting(train, rec, DEFAULT_FACTOR, DEFAULT_FOR), rec)
    ]
    rules = outcome(
        rules_alerting(train, held_out, DEFAULT_FACTOR, DEFAULT_FOR), held_out, rule_found
    )
    return {"loop": loop, "rules": rules}


def cross_instance(normal_a: Recording, other: Recording, share: float, hold: int) -> dict:
    """Trained on instance A's normal part vs on B's own, both applied to B."""
    normal_rows = np.flatnonzero(other.labels == NORMAL)
    first_attack = next((e.start for e in events(other.labels)), len(other.values))
    train_b, held_b = split(other.part(0, first_attack), share)
    attacks_b = (
        [other.part(first_attack, len(other.values))] if first_attack < len(other.values) else []
    )
    return {
        "other": other.name,
        "normal_rows_of_other": len(normal_rows),
        "trained_on_this_instance": default_pair(normal_a, held_b, attacks_b, hold),
        "trained_on_the_other": default_pair(train_b, held_b, attacks_b, hold),
    }


# -- output -----------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def setting(row: dict | None) -> str:
    if row is None:
        return "none reaches it"
    if "factor" in row:
        name = f"×{row['factor']:g}, for {row['for_s']:g} s"
    else:
        name = f"limit ×{row['scale']:g}, hold {row['hold']}"
    return (
        f"{name}: {row['detected']}/{row['episodes']} detected, median "
        f"{fmt(row['median_delay_s'])} s, {fmt(row['false_alerts_per_hour'])} FA/h"
    )


def verdict(loop: dict, rules: dict) -> str:
    """Whether the loop's default beats the rules' default: no fewer episodes detected,
    and a shorter median delay at no more false alarms, or fewer false alarms at no longer
    a median delay."""
    if loop["detected"] < rules["detected"]:
        return "no: it detects fewer episodes"
    ld, rd = loop["median_delay_s"] or float("inf"), rules["median_delay_s"] or float("inf")
    lf, rf = loop["false_alerts_per_hour"], rules["false_alerts_per_hour"]
    if (ld < rd and lf <= rf) or (lf < rf and ld <= rd):
        return "yes"
    return "no"


def markdown(result: dict) -> list[str]:
    d = result["defaults"]
    lines = [
        "# The loop's detector vs Prometheus `for:` rules on the emulated CNF",
        "",
        f"Normal: {result['normal']['file']} ({result['normal']['train_s']:.0f} s trained on, "
        f"{result['normal']['held_out_s']:.0f} s held out); attacks: "
        f"{', '.join(result['attacks']['files'])} ({result['attacks']['episodes']} episodes).",
    ]
    if result["frozen_accepted"]:
        lines += ["", "**Provisional: recordings with frozen runs were accepted.**"]
    lines += [
        "",
        "## Defaults",
        "",
        "| | detected | median delay s | max delay s | false alerts / h (held-out normal) "
        "| stray alerts in attack runs | alerting share of their normal rows |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, key in (
        ("loop (zscore, static limit)", "loop"),
        ("Prometheus ×1.5, for 1 s", "rules"),
    ):
        r = d[key]
        lines.append(
            f"| {name} | {r['detected']}/{r['episodes']} | {fmt(r['median_delay_s'])} | "
            f"{fmt(r['max_delay_s'])} | {fmt(r['false_alerts_per_hour'])} | {r['stray_alerts']} "
            f"| {r['alerting_share_of_normal_rows']:.2f} |"
        )
    lines += [
        "",
        "An episode that starts while a detector is still alerting counts as missed (the "
        "recordings run no remedies, so nothing clears it): the last column is the share of "
        "the attack runs' normal rows spent alerting.",
        "",
        f"Does the loop's default beat the rules? **{result['verdict']}**.",
        "",
    ]
    lines += [
        "## Per attack kind (defaults)",
        "",
        "| kind | loop detected | loop median s | rules detected | rules median s |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, lk in d["loop"]["by_kind"].items():
        rk = d["rules"]["by_kind"][kind]
        lines.append(
            f"| {kind} | {lk['detected']}/{lk['episodes']} | {fmt(lk['median_delay_s'])} | "
            f"{rk['detected']}/{rk['episodes']} | {fmt(rk['median_delay_s'])} |"
        )
    lines += [
        "",
        "## At matched rates (best setting of each sweep)",
        "",
        "| budget | loop | rules |",
        "|---|---|---|",
    ]
    for m in result["matched"]:
        lines.append(f"| {m['budget']} | {setting(m['loop'])} | {setting(m['rules'])} |")
    matrix = result["confusion"]
    lines += [
        "",
        f"## Decision engine: attack kind × first remedy (right: {matrix['right']:.2f})",
        "",
    ]
    lines.append(result["confusion_table"])
    cross = result["cross_instance"]
    lines += ["", "## Cross-instance", ""]
    if cross is None:
        lines.append("Not measured: no recording of a second CNF instance was given (`--other`).")
    else:
        lines += [
            "| trained on | detector | detected | median delay s | false alerts / h |",
            "|---|---|---:|---:|---:|",
        ]
        for where in ("trained_on_this_instance", "trained_on_the_other"):
            for key in ("loop", "rules"):
                r = cross[where][key]
                lines.append(
                    f"| {where.replace('_', ' ')} | {key} | {r['detected']}/{r['episodes']} | "
                    f"{fmt(r['median_delay_s'])} | {fmt(r['false_alerts_per_hour'])} |"
                )
    return lines


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, heat) = plt.subplots(1, 2, figsize=(12, 4.8))
    for key, marker, label in (
        ("loop_sweep", "o", "loop detector (limit × m, hold k)"),
        ("rules_sweep", "s", "Prometheus rules (× factor, for)"),
    ):
        rows = [r for r in result[key] if r["detected"] == r["episodes"]]
        ax.scatter(
            [r["false_alerts_per_hour"] for r in rows],
            [r["median_delay_s"] for r in rows],
            marker=marker,
            alpha=0.6,
            label=label,
        )
    for key, colour in (("loop", "C0"), ("rules", "C1")):
        r = result["defaults"][key]
        if r["median_delay_s"] is not None:
            ax.scatter(
                [r["false_alerts_per_hour"]],
                [r["median_delay_s"]],
                marker="*",
                s=250,
                color=colour,
                edgecolor="k",
                label=f"{key} default",
            )
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("false alerts per hour (held-out normal)")
    ax.set_ylabel("median detection delay (s), settings detecting every episode")
    ax.legend(fontsize=8)
    m = result["confusion"]
    grid = np.array([[m["counts"][k][c] for c in m["choices"]] for k in m["kinds"]])
    heat.imshow(grid, cmap="Blues")
    heat.set_xticks(range(len(m["choices"])), m["choices"], rotation=30, ha="right")
    heat.set_yticks(range(len(m["kinds"])), m["kinds"])
    for (i, j), n in np.ndenumerate(grid):
        heat.text(j, i, str(n), ha="center", va="center")
    heat.set_title(f"decision engine: kind × first remedy (right {m['right']:.2f})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normal", type=Path, default=RECORDINGS / "cnf-emulated-normal.csv")
    parser.add_argument(
        "--attacks", type=Path, nargs="+", default=[RECORDINGS / "cnf-emulated-attacks.csv"]
    )
    parser.add_argument(
        "--other", type=Path, help="a second CNF instance's recording (normal, then attacks)"
    )
    parser.add_argument("--train-share", type=float, default=0.5)
    parser.add_argument(
        "--accept-frozen",
        action="store_true",
        help="read recordings with frozen runs (provisional results)",
    )
    args = parser.parse_args()
    normal = load(args.normal, args.accept_frozen)
    attacks = [load(p, args.accept_frozen) for p in args.attacks]
    train, held_out = split(normal, args.train_share)
    hold = PERSISTENCE
    detector = loop_detector(train)
    loop_rows = sweep_loop(
        scored(detector, held_out), held_out, [(scored(detector, r), r) for r in attacks]
    )
    rule_rows = sweep_rules(train, held_out, attacks)
    loop_default = next(r for r in loop_rows if r["scale"] == 1.0 and r["hold"] == hold)
    rules_default = next(
        r for r in rule_rows if r["factor"] == DEFAULT_FACTOR and r["for_s"] == DEFAULT_FOR
    )
    defaults = {}
    for key, row, alerting in (
        ("loop", loop_default, lambda rec: loop_alerting(scored(detector, rec), 1.0, hold)),
        (
            "rules",
            rules_default,
            lambda rec: rules_alerting(train, rec, DEFAULT_FACTOR, DEFAULT_FOR),
        ),
    ):
        defaults[key] = {
            **{k: v for k, v in row.items() if k != "per_episode"},
            "by_kind": by_kind(row["per_episode"]),
            "stray_alerts": sum(stray_alerts(alerting(rec), rec) for rec in attacks),
            "alerting_share_of_normal_rows": alerting_share(alerting, attacks),
        }
    matched = [
        {
            "budget": f"≤ {b:g} FA/h",
            "loop": best_within_fa(loop_rows, b),
            "rules": best_within_fa(rule_rows, b),
        }
        for b in FA_BUDGETS
    ]
    matched += [
        {
            "budget": f"all detected, median ≤ {b:g} s",
            "loop": best_within_delay(loop_rows, b),
            "rules": best_within_delay(rule_rows, b),
        }
        for b in DELAY_BUDGETS
    ]
    matrix = ConfusionMatrix.of(e for rec in attacks for e in decisions(rec, hold))
    result = {
        "benchmark": "cnf_loop",
        "machine": describe(["numpy", "torch"]),
        "frozen_accepted": args.accept_frozen,
        "normal": {
            "file": normal.name,
            "train_s": float(train.times[-1] - train.times[0] + STEP),
            "held_out_s": float(held_out.times[-1] - held_out.times[0] + STEP),
        },
        "attacks": {"files": [r.name for r in attacks], "episodes": loop_default["episodes"]},
        "loop_detector": {
            "model": DetectorChoice().model,
            "window": DetectorChoice().window,
            "hold": hold,
        },
        "rules": [r.to_json() for r in prometheus_rules(train.values, METRICS)],
        "defaults": defaults,
        "verdict": verdict(defaults["loop"], defaults["rules"]),
        "matched": matched,
        "confusion": matrix.to_json(),
        "confusion_table": matrix.table(),
        "cross_instance": None
        if args.other is None
        else cross_instance(train, load(args.other, args.accept_frozen), args.train_share, hold),
        "loop_sweep": [{k: v for k, v in r.items() if k != "per_episode"} for r in loop_rows],
        "rules_sweep": [{k: v for k, v in r.items() if k != "per_episode"} for r in rule_rows],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cnf_loop.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / "cnf_loop.md").write_text("\n".join(markdown(result)) + "\n")
    plot(result, RESULTS / "cnf_loop.png")
    print("\n".join(markdown(result)))


if __name__ == "__main__":
    main()
