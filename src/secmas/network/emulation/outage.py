"""What a move cost the CNF's clients, from the probe's log: pure computation, no I/O.

The probe (`probe.py`) logs one record per request: when it was sent, how long the answer
took, whether it succeeded and which instance answered. For one move that started at
`since`:

- an outage is a maximal run of consecutive failed requests (by send time); it lasts
  from the first failure's send time (not before `since`) to the send time of the next
  request that succeeded, or to `until` when none did before it;
- the measured downtime is the longest outage in [`since`, `until`], so it is resolved
  to the probe's interval;
- the measured total time is from `since` to the moment the first request answered by the
  destination instance came back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    """One probe request."""

    cnf: str
    t: float
    """Unix time it was sent."""
    s: float
    """Seconds until it was answered or given up."""
    ok: bool
    by: str = ""
    """The instance that answered ("" when none did)."""
    op: str = "get"
    why: str = ""

    @property
    def answered(self) -> float:
        return self.t + self.s


@dataclass(frozen=True, slots=True)
class Outage:
    """Requests sent in [start, end) failed."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def parse_probe_log(lines: Iterable[str]) -> list[ProbeRecord]:
    """The probe's records; a line cut short (the probe still writing) is skipped."""
    records = []
    for line in lines:
        try:
            data = json.loads(line)
            records.append(
                ProbeRecord(
                    str(data["cnf"]),
                    float(data["t"]),
                    float(data["s"]),
                    bool(data["ok"]),
                    str(data.get("by", "")),
                    str(data.get("op", "get")),
                    str(data.get("why", "")),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return records


def outages(records: Sequence[ProbeRecord], since: float, until: float) -> list[Outage]:
    """The outages of one CNF's records between `since` and `until` (module docstring)."""
    found = []
    first_failure: float | None = None
    for record in sorted(records, key=lambda r: r.t):
        if record.t > until:
            break
        if not record.ok:
            first_failure = record.t if first_failure is None else first_failure
            continue
        if first_failure is not None and record.t > since:
            found.append(Outage(max(first_failure, since), record.t))
        first_failure = None
    if first_failure is not None and until > max(first_failure, since):
        found.append(Outage(max(first_failure, since), until))
    return found


def downtime(records: Sequence[ProbeRecord], since: float, until: float) -> float:
    """The longest outage between `since` and `until` (0 when every request succeeded)."""
    return max((o.seconds for o in outages(records, since, until)), default=0.0)


def first_answer(records: Sequence[ProbeRecord], by: str, since: float) -> ProbeRecord | None:
    """The first successful request sent from `since` on that instance `by` answered."""
    answered = [r for r in records if r.ok and r.by == by and r.t >= since]
    return min(answered, key=lambda r: r.answered, default=None)
