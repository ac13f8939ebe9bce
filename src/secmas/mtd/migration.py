"""Analytical live-migration model of a CNF (004_… Section 2.1, the LiMi controller).

The deliverable's Live Migration Optimizer is trained on over 6 000 CRIU/runC live migrations of
a containerised application (cold or "basic", pre-copy, post-copy and hybrid), each recorded as
its phases: pre-dump time and size, pre-dump transfer time, dump time and size, dump transfer
time, volume size and volume transfer time (rsync deltas), the parallel transfer of the dump and
volume deltas, restore time, the approximate downtime (dump + dump transfer + restore) and the
precise downtime seen by the clients (packets queued during the freeze included). We cannot run
CRIU here, so `MigrationModel` gives those phases from the container's load and the path
bandwidth, with seeded log-normal noise standing in for the measurement spread:

* memory: a resident set of M MB, of which a writable working set W = `working_set`·M is
  rewritten at the dirty-page rate D = `dirty_coefficient`·cpu·M MB/s; the pages dirtied during
  t seconds saturate at W: dirtied(t) = W·(1 − e^(−D·t/W));
* disk: the writable layer / volume changes at `disk_mbps`; rsync sends only the delta since the
  destination's last copy (`sync_age_s` before a migration starts, then since the last round);
* network: the CNF's own traffic shares the path, leaving B_eff = max(B − net, `min_share`·B) to
  the migration; it sets the number of established TCP sockets CRIU must repair on dump and on
  restore (`connections_per_mbps`); it delays post-copy page faults (latency / (1 − net/B)); and
  requests queued during the freeze make the clients' downtime approx / (1 − ρ), with
  ρ = net / `service_capacity`;
* CPU: a pre-dump runs beside the live container and slows with its CPU load; CPU load drives
  the dirty rate and how fast a post-copied process touches pages it does not have yet.

The methods, each phase multiplied by its own noise draw:

* cold: freeze, dump all M, send dump and volume delta in parallel, restore. Downtime = total.
* pre-copy: `precopy_rounds` pre-dumps while running (first all of M with the volume delta,
  then the pages and volume written during the previous round), then stop-and-copy of the pages
  dirtied during the last round, restore of the full image. The LiMi records one pre-dump per
  migration, the default.
* post-copy: freeze, dump only the non-page state (`metadata`·M), send it with the volume delta,
  restore lazily (userfaultfd daemon, `lazy_setup_s`); all M pages follow over the network while
  the container runs, and the pages it touches first fault across the path (stalls).
* hybrid: one pre-dump, then post-copy of the pages dirtied during it.

Qualitative findings the model reproduces (the deliverable's Section 2.1 and the survey it
cites, [12] Soussi et al., ACM CSUR 2024; figures from `benchmarks/bench_mtd.py`):

* cold migration has the longest downtime, all of its migration time being downtime, but
  usually the shortest total time (each page crosses once, no lazy phase);
* pre-copy suits light, read-mostly loads and degrades with the dirty-page rate: its downtime
  grows towards cold's with memory load and its pages cross twice;
* post-copy has the shortest downtime for memory-heavy, write-heavy containers, but its page
  faults cross the path, so its stalls grow with network load and hybrid takes over there;
* hybrid (one pre-dump, then post-copy of what it dirtied) sits between and wins most often
  over the 34 classes;
* a pre-dump sends the volume delta while the service still runs, so disk writes weigh on the
  downtime of cold and post-copy migration in full, on pre-copy's only for the last round;
  the dump and volume deltas share one parallel transfer (the LiMi's optimisation).

Monotonicity (tested): for a given noise draw, more bandwidth never lengthens any phase of any
method, and more CPU, memory, disk or network load never shortens a pre-copy migration (the
number of pre-dump rounds is fixed, not adaptive, so no stop rule can make it jump).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Method(StrEnum):
    """The four LiMi methods (004_… Section 2.1, [12])."""

    COLD = "cold"
    PRECOPY = "pre-copy"
    POSTCOPY = "post-copy"
    HYBRID = "hybrid"


METHODS: tuple[Method, ...] = tuple(Method)


@dataclass(frozen=True)
class Load:
    """A CNF's load: CPU busy share of its quota (0–1), resident memory (MB), disk writes
    (MB/s) and service traffic (MB/s)."""

    cpu: float
    memory_mb: float
    disk_mbps: float
    net_mbps: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.cpu <= 1.0:
            raise ValueError(f"cpu load must be in [0, 1], got {self.cpu!r}")
        for name in ("memory_mb", "disk_mbps", "net_mbps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")


@dataclass(frozen=True)
class Phases:
    """One migration, as the LiMi dataset records it (seconds and MB)."""

    method: Method
    predump_s: float  # all pre-dump rounds (pre-copy, hybrid), checkpointing
    predump_mb: float
    predump_transfer_s: float
    dump_s: float  # frozen checkpoint
    dump_mb: float
    volume_mb: float  # volume delta sent while frozen
    dump_transfer_s: float  # dump and volume deltas in parallel
    restore_s: float
    lazy_s: float  # post-copy background page transfer after the restore
    fault_stall_s: float  # post-copy page faults over the path
    approx_downtime_s: float  # dump + dump transfer + restore
    downtime_s: float  # as the clients see it: queueing and visible fault stalls
    total_s: float


NOISE_DRAWS = 8
"""Log-normal multipliers drawn per migration, whatever the method (so a seed gives the same
draws to every load and bandwidth): per-round pre-dump and its transfer (reused across rounds
with a round-specific rotation), dump, dump transfer, restore, lazy transfer, fault stalls,
dirty rate."""


@dataclass(frozen=True)
class MigrationModel:
    """Parameters of the analytical model (rates MB/s, times s); see the module docstring."""

    dump_rate: float = 800.0
    predump_slowdown: float = 0.5  # pre-dump rate × (1 − slowdown·cpu)
    restore_rate: float = 1000.0
    dump_fixed_s: float = 0.10
    restore_fixed_s: float = 0.25
    lazy_setup_s: float = 0.30  # userfaultfd registration, lazy-pages daemon
    transfer_setup_s: float = 0.30  # SSH-tunnelled rsync handshake, per transfer
    socket_s: float = 0.001  # TCP_REPAIR of one established socket, on dump and on restore
    connections_per_mbps: float = 10.0
    dirty_coefficient: float = 0.08  # dirty MB/s per resident MB at full CPU load
    working_set: float = 0.5
    metadata: float = 0.01  # non-page share of the checkpoint image
    sync_age_s: float = 30.0
    min_share: float = 0.2
    service_capacity: float = 100.0  # MB/s
    fault_latency_s: float = 0.0005  # a remote page fault on an idle path
    page_mb: float = 4.0 / 1024.0
    fault_concurrency: float = 8.0  # faults in flight (threads)
    touch_rate: float = 1.0  # share of the working set touched per second at full CPU load
    stall_visibility: float = 0.5  # share of fault stalls clients see as downtime
    max_path_load: float = 0.95
    precopy_rounds: int = 1
    noise: float = 0.1  # σ of the mean-one log-normal multipliers

    def __post_init__(self) -> None:
        if self.precopy_rounds < 1:
            raise ValueError("precopy_rounds must be ≥ 1")
        if not 0.0 <= self.predump_slowdown < 1.0:
            raise ValueError("predump_slowdown must be in [0, 1)")
        if not 0.0 < self.min_share <= 1.0:
            raise ValueError("min_share must be in (0, 1]")

    # -- derived quantities -------------------------------------------------------------
    def effective_bandwidth(self, load: Load, bandwidth: float) -> float:
        """MB/s left to the migration on a path of `bandwidth` MB/s carrying the CNF's traffic."""
        if not (math.isfinite(bandwidth) and bandwidth > 0):
            raise ValueError(f"bandwidth must be a finite number > 0, got {bandwidth!r}")
        return max(bandwidth - load.net_mbps, self.min_share * bandwidth)

    def dirty_rate(self, load: Load) -> float:
        """MB/s of memory pages rewritten (the dirty-page rate)."""
        return self.dirty_coefficient * load.cpu * load.memory_mb

    def dirtied(self, load: Load, seconds: float, factor: float = 1.0) -> float:
        """MB of distinct pages dirtied in `seconds` (saturating at the writable working set)."""
        ws = self.working_set * load.memory_mb
        if ws <= 0:
            return 0.0
        return ws * -math.expm1(-factor * self.dirty_rate(load) * seconds / ws)

    def connections(self, load: Load) -> float:
        return self.connections_per_mbps * load.net_mbps

    def service_load(self, load: Load) -> float:
        return min(self.max_path_load, load.net_mbps / self.service_capacity)

    def draws(self, rng: np.random.Generator | None) -> np.ndarray:
        """The noise multipliers of one migration (all ones without `rng`)."""
        if rng is None or self.noise == 0:
            return np.ones(NOISE_DRAWS)
        z = rng.standard_normal(NOISE_DRAWS)
        return np.exp(self.noise * z - self.noise**2 / 2)

    # -- the methods --------------------------------------------------------------------
    def simulate(
        self,
        method: Method | str,
        load: Load,
        bandwidth: float,
        rng: np.random.Generator | None = None,
    ) -> Phases:
        """One migration of a CNF under `load` over a path of `bandwidth` MB/s.

        Without `rng` the noise-free (expected-value) migration; with it, one noisy draw.
        """
        method = Method(method)
        f = self.draws(rng)
        b = self.effective_bandwidth(load, bandwidth)
        sockets = self.socket_s * self.connections(load)
        mem = load.memory_mb
        predump = predump_mb = predump_tx = 0.0
        size, volume = mem, load.disk_mbps * self.sync_age_s
        if method in (Method.PRECOPY, Method.HYBRID):
            rounds = self.precopy_rounds if method is Method.PRECOPY else 1
            predump_rate = self.dump_rate * (1.0 - self.predump_slowdown * load.cpu)
            for i in range(rounds):
                # the same draws, rotated per round, so the draw count never depends on rounds
                fd, ft = f[i % 2], f[(i + 1) % 2]
                dump_i = fd * (self.dump_fixed_s + size / predump_rate)
                tx_i = ft * (self.transfer_setup_s + (size + volume) / b)
                predump += dump_i
                predump_tx += tx_i
                predump_mb += size
                elapsed = dump_i + tx_i
                size = self.dirtied(load, elapsed, f[7])
                volume = load.disk_mbps * elapsed
        lazy_mb = 0.0
        if method in (Method.COLD, Method.PRECOPY):
            dump_mb = size
            restore = f[4] * (self.restore_fixed_s + sockets + mem / self.restore_rate)
        else:  # post-copy and hybrid restore lazily; pages follow after the restore
            dump_mb = self.metadata * mem
            lazy_mb = size
            loaded = mem if method is Method.HYBRID else 0.0  # the pre-dumped image is local
            restore = f[4] * (
                self.restore_fixed_s + sockets + self.lazy_setup_s + loaded / self.restore_rate
            )
        dump = f[2] * (self.dump_fixed_s + sockets + dump_mb / self.dump_rate)
        dump_tx = f[3] * (self.transfer_setup_s + (dump_mb + volume) / b)
        lazy = f[5] * lazy_mb / b
        stall = f[6] * self._fault_stall(load, bandwidth, b, lazy_mb, lazy)
        approx = dump + dump_tx + restore
        downtime = approx / (1.0 - self.service_load(load)) + self.stall_visibility * stall
        total = predump + predump_tx + approx + lazy + stall
        return Phases(
            method=method,
            predump_s=predump,
            predump_mb=predump_mb,
            predump_transfer_s=predump_tx,
            dump_s=dump,
            dump_mb=dump_mb,
            volume_mb=volume,
            dump_transfer_s=dump_tx,
            restore_s=restore,
            lazy_s=lazy,
            fault_stall_s=stall,
            approx_downtime_s=approx,
            downtime_s=downtime,
            total_s=total,
        )

    def _fault_stall(
        self, load: Load, bandwidth: float, b: float, lazy_mb: float, lazy_s: float
    ) -> float:
        """Seconds a post-copied process waits on remote page faults.

        Of the `lazy_mb` still remote, the working-set share is touched at the rate
        `touch_rate`·cpu per page; a page pushed at a uniform time in [0, lazy_s] faults if it
        is touched first: the share 1 − (1 − e^(−a·L)) / (a·L). Each fault costs the path's
        latency inflated by its load, plus one page at B_eff, `fault_concurrency` at a time.
        """
        if lazy_mb <= 0 or lazy_s <= 0 or load.cpu <= 0:
            return 0.0
        hot = min(lazy_mb, self.working_set * load.memory_mb)
        al = self.touch_rate * load.cpu * lazy_s
        # 1 + (e^(−x) − 1)/x; its Taylor series x/2 − x²/6 where x is too small to divide by
        share = al / 2 - al * al / 6 if al < 1e-6 else 1.0 + math.expm1(-al) / al
        path_load = min(self.max_path_load, load.net_mbps / bandwidth)
        latency = self.fault_latency_s / (1.0 - path_load) + self.page_mb / b
        return hot * share / self.page_mb * latency / self.fault_concurrency

    def expected(self, method: Method | str, load: Load, bandwidth: float) -> Phases:
        """The noise-free migration (what a planner assumes)."""
        return self.simulate(method, load, bandwidth, None)


DEFAULT_MODEL = MigrationModel()


def downtime(
    method: Method | str,
    load: Load,
    bandwidth: float,
    *,
    model: MigrationModel = DEFAULT_MODEL,
    rng: np.random.Generator | None = None,
) -> float:
    """Seconds the CNF is unavailable to its clients when migrated with `method` (for the
    simulator: noise-free without `rng`, one noisy draw with it)."""
    return model.simulate(method, load, bandwidth, rng).downtime_s


def total_time(
    method: Method | str,
    load: Load,
    bandwidth: float,
    *,
    model: MigrationModel = DEFAULT_MODEL,
    rng: np.random.Generator | None = None,
) -> float:
    """Seconds from the start of the migration until the CNF is wholly at its destination."""
    return model.simulate(method, load, bandwidth, rng).total_s
