"""A resource model of a containerised web/video microservice (a CNF), one sample per step.

The metrics are the twelve of the microservice profiling tool (`004_…` Section 6.2,
Table 1) plus the system load and the open connections the vCDN proof of concept also
scrapes (`002_…` Section IV: cadvisor, node-exporter and the NGINX exporter). Each step
the CNF takes what the data plane delivered to its host (completed handshakes are
requests, bytes in, SYNs never acknowledged, slow connections opened) and the incidents
active on it, and returns one noisy sample; the noise comes from the model's own seeded
generator, so a run is reproducible and never disturbs the traffic's random draws.

The model is small on purpose. A CNF runs `replicas` instances of `cores` cores behind
one address; work is shared evenly between instances. Requests cost CPU; above the
cores' capacity a backlog builds, so latency, errors and the run queue grow while
throughput stays flat. Connections are limited per instance; connections held open by
a slowloris take slots away from clients. The incidents are plug-ins
(`secmas.network.incident`; each built-in's module says what it does) and the docstring
of `CNFModel.remedy` says what each enforcement action does.

Units: cpu in cores used (0 … cores × replicas), load as run-queue length, memory in
MB, disk and network in MB/s, latency in ms, throughput in successful requests/s,
error_rate as the failed share of requests (0 … 1), connections as an open count.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from secmas.network.incident import Active, Effects, ended_by, incident_kind
from secmas.scenario.incidents import installed_incidents
from secmas.scenario.model import CNF, Incident

METRICS: tuple[str, ...] = (
    "cpu",
    "load",
    "memory_rss",
    "memory_vsize",
    "disk_read",
    "disk_write",
    "net_rx",
    "net_tx",
    "latency_p50",
    "latency_p90",
    "latency_p99",
    "throughput",
    "error_rate",
    "connections",
)

ATTACK_CONDITIONS: tuple[str, ...] = ("http_flood", "slowloris", "syn_flood")


def known_conditions() -> tuple[str, ...]:
    """Every per-step ground-truth label: normal, the attacks, then the installed incidents
    (sorted; secmas's `disk_storm` is a pattern profilers are not taught)."""
    return ("normal", *ATTACK_CONDITIONS, *installed_incidents())


REMEDIES: tuple[str, ...] = ("scale_out", "migrate", "isolate", "guard", "live_migrate")

QUANTILES = (0.5, 0.9, 0.99)
EXP_QUANTILE = tuple(-math.log(1 - q) for q in QUANTILES)  # of an exponential, mean 1
SYNACK_MB = 60.0 / 1_048_576  # the server answers each SYN with one SYN-ACK
SLOT_FULL = 0.05  # slots share below which a waiting client's latency stops growing


@dataclass(frozen=True, slots=True)
class CNFParams:
    """Constants of the CNF model; defaults describe an NGINX video streamer replica."""

    base_cpu: float = 0.05  # cores an idle replica uses
    request_cpu: float = 0.005  # core-seconds per HTTP request
    mb_cpu: float = 0.04  # core-seconds per MB received or sent
    syn_cpu: float = 5e-6  # core-seconds of kernel work per unacknowledged SYN
    held_cpu: float = 1e-4  # cores per connection held open by a slowloris
    response_mb: float = 0.01  # MB per HTTP response
    stream_mb: float = 0.25  # MB/s sent to each video viewer
    keepalive_s: float = 1.0  # seconds a client's connection stays open after a response
    syn_recv_s: float = 3.0  # seconds a half-open connection waits for its ACK
    syn_backlog: int = 1024  # half-open slots per replica
    syn_drop: float = 0.05  # share of clients' SYNs lost when the backlog is full
    rto_ms: float = 1000.0  # TCP's initial retransmission timeout
    timeout_s: float = 10.0  # a queued request fails after waiting this long
    base_error: float = 0.002  # share of requests that fail anyway (bad URLs, resets)
    slot_wait_ms: float = 150.0  # waiting for a free connection slot, at half occupancy
    release: float = 0.3  # share of slow connections left a step after the attack stops
    turnover: float = 0.03  # share of slots a slowloris is reopening at any time
    base_rss: float = 180.0  # MB per replica
    conn_rss: float = 0.06  # MB per open connection
    request_rss: float = 0.02  # MB per queued request
    base_vsize: float = 700.0  # MB per replica
    memory_limit: float = 1024.0  # MB per replica; above it the instance is restarted
    cache_miss: float = 0.1  # share of streamed bytes read from disk
    request_read_mb: float = 0.001  # MB read from disk per request
    log_mb: float = 0.0003  # MB of access or error log per request
    base_write: float = 0.05  # MB/s per replica
    service_ms: float = 5.0  # time one request needs on an idle core
    max_rho: float = 0.95  # utilisation at which the queueing delay formula stops
    hog_share: float = 0.9  # high_cpu: share of the instance's cores a hog wants
    contention: float = 0.8  # high_cpu: latency factor per unit of hog share
    leak_mb: float = 3.0  # high_memory: MB/s leaked
    leak_vsize: float = 1.5  # high_memory: address space reserved per MB leaked
    spike: tuple[float, float] = (2.0, 4.0)  # traffic_spike: load factor drawn in this range
    step_every_s: float = 10.0  # load_step: seconds between two steps
    step_gain: float = 0.5  # load_step: load added per step
    max_steps: int = 8  # load_step: steps before the load stops rising
    delay_ms: float = 40.0  # network_latency: delay added on the instance's PoP
    delay_jitter: tuple[float, float, float] = (1.0, 1.5, 2.5)  # of the delay, per quantile
    storm_read: float = 40.0  # disk_storm: MB/s read
    storm_write: float = 25.0  # disk_storm: MB/s written
    storm_cpu: float = 0.15  # disk_storm: cores of system time
    storm_load: float = 2.0  # disk_storm: tasks blocked on I/O (they count in the load)
    storm_slow: float = 0.3  # disk_storm: service time factor added
    guard_ms: float = 0.3  # guard: latency a sidecar proxy adds
    transient_s: float = 5.0  # migrate/isolate/restart: seconds of cold start
    move_loss: float = 0.1  # migrate/isolate: share of the instance's requests lost at cutover
    crash_loss: float = 0.5  # restart after exceeding the memory limit: share lost
    cold_read: float = 8.0  # migrate/isolate: MB/s read to warm the cache, at the start
    noise: float = 0.04  # relative standard deviation of every metric


@dataclass(frozen=True, slots=True)
class Arrivals:
    """What the data plane delivered to the CNF's host in one step (per second)."""

    requests: float = 0.0  # completed handshakes that carry a request (HTTP and HTTP flood)
    streams: float = 0.0  # video viewers whose traffic arrived
    rx: float = 0.0  # MB/s arriving
    half_open: float = 0.0  # SYNs never acknowledged
    slow: float = 0.0  # slowloris connections opened


@dataclass(frozen=True, slots=True)
class CNFPlacement:
    """Where a CNF runs: its primary instance's PoP, every replica's PoP (primary first),
    whether a connection guard is in front of it, and the PoPs of quarantined instances."""

    pop: str
    replicas: tuple[str, ...]
    guarded: bool
    isolated: tuple[str, ...]


@dataclass(slots=True)
class _Live:
    """An incident of this CNF: its spike factor and when a remedy ended it, if one did."""

    incident: Incident
    factor: float
    ended: float | None = None

    def active(self, t: float) -> bool:
        stop = math.inf if self.incident.stop is None else self.incident.stop
        ended = math.inf if self.ended is None else self.ended
        return self.incident.start <= t < min(stop, ended)


@dataclass(slots=True)
class _State:
    """What carries over from one step to the next."""

    queue: float = 0.0  # requests waiting for a core
    held: float = 0.0  # connections held open by a slowloris
    leaked: float = 0.0  # MB leaked by the primary instance
    mean_s: float = 0.005  # last mean response time, seconds (how long a slot is held)
    transient: float = 0.0  # seconds of cold start left
    dropped: float = 0.0  # requests lost by a restart, counted as failed next step
    outage: float = 0.0  # share of the next step's requests lost to a restart
    down: float = 0.0  # seconds of live-migration downtime left (no request is served)


@dataclass(frozen=True, slots=True)
class _Served:
    """What one step of request handling did (counts over the step)."""

    offered: float  # requests waiting or arriving
    served: float
    failed: float
    wait_s: float  # backlog wait at the end of the step
    established: float  # clients' open connections


class CNFModel:
    """One CNF's resources, state and placement; `sample` advances it one step.

    `pops` are the PoPs its instances may run at (default: only its own); `seed` fixes
    the noise and the spike factors. Latencies are the server's response times (as an
    NGINX exporter reports them), so where an instance runs does not change them; only
    a network_latency incident on its PoP does.
    """

    def __init__(
        self,
        spec: CNF,
        incidents: Sequence[Incident] = (),
        *,
        pops: Collection[str] = (),
        seed: int = 0,
        params: CNFParams | None = None,
    ) -> None:
        self.spec = spec
        self.params = params or CNFParams()
        self._pops = frozenset(pops) | {spec.pop}
        draws = np.random.default_rng([seed, 1])
        low, high = self.params.spike
        self._incidents = [
            _Live(incident, incident.magnitude * float(draws.uniform(low, high)))
            for incident in incidents
        ]
        self._noise = np.random.default_rng([seed, 2])
        self._replicas = [spec.pop] * spec.replicas
        self._isolated: list[str] = []
        self._guarded = False
        self._state = _State()

    # -- placement and incidents ---------------------------------------------------------
    @property
    def placement(self) -> CNFPlacement:
        """Where the instances run now."""
        return CNFPlacement(
            pop=self._replicas[0],
            replicas=tuple(self._replicas),
            guarded=self._guarded,
            isolated=tuple(self._isolated),
        )

    def active(self, t: float) -> list[Incident]:
        """Incidents under way at `t`, in scenario order."""
        return [live.incident for live in self._incidents if live.active(t)]

    def remedy(self, remedy: str, pop: str, t: float, downtime: float = 0.0) -> None:
        """Apply an enforcement action at time `t`; it shows from the next sample on.

        scale_out: a replica at `pop`; work is shared evenly, capacity and connection
        slots grow. migrate: the primary instance restarts at `pop`. isolate: the primary is
        quarantined and a clean one starts at `pop`. Each ends the incidents whose plug-in
        says so (`IncidentPlugin.ended_by`: those living in the instance). A migration or
        isolation drops the instance's open connections, queued requests and a
        `move_loss` share of one step's requests, and starts cold (memory reset, cache
        refilled from disk, slower answers) for `transient_s`. guard: a reverse proxy with
        short header timeouts in front of the CNF (at `pop`); it forwards only complete
        requests, so connections held open by a slowloris never reach the CNF.
        live_migrate (moving target defence): the primary instance moves to `pop` with its
        memory, so nothing restarts cold and no incident ends, but for `downtime` seconds
        (the migration method's stop-and-copy time) its requests fail.
        """
        if not (math.isfinite(downtime) and downtime >= 0):
            raise ValueError(f"downtime must be a finite number of seconds ≥ 0, got {downtime!r}")
        if remedy not in REMEDIES:
            raise ValueError(f"unknown remedy {remedy!r}; known: {', '.join(REMEDIES)}")
        if pop not in self._pops:
            raise ValueError(f"unknown PoP {pop!r} for CNF {self.spec.id!r}")
        match remedy:
            case "scale_out":
                self._replicas.append(pop)
            case "guard":
                self._guarded = True
            case "migrate":
                self._restart(pop, ended_by(remedy), t)
            case "isolate":
                self._isolated.append(self._replicas[0])
                self._restart(pop, ended_by(remedy), t)
            case "live_migrate":
                self._replicas[0] = pop
                self._state.down = max(self._state.down, downtime)

    def _restart(self, pop: str, ends: frozenset[str], t: float) -> None:
        """The primary instance starts again at `pop`, ending the incidents in `ends`."""
        for live in self._incidents:
            if live.incident.kind in ends and live.active(t):
                live.ended = t
        state = self._state
        self._replicas[0] = pop
        share = 1.0 / len(self._replicas)
        state.dropped += state.queue * share
        state.queue -= state.queue * share
        state.held -= state.held * share
        state.leaked = 0.0
        state.transient = self.params.transient_s
        state.outage = self.params.move_loss * share

    # -- one step ------------------------------------------------------------------------
    def sample(self, t: float, dt: float, arrivals: Arrivals) -> np.ndarray:
        """Advance by one step of `dt` seconds starting at `t`; the sample, in METRICS
        order (a fresh array)."""
        p, state = self.params, self._state
        n = len(self._replicas)
        effects = self._effects(t)
        cores = self.spec.cores * n
        slots = float(self.spec.max_connections * n)
        if self._leak(effects.leak, dt):
            state.dropped += state.queue / n
            state.queue -= state.queue / n
            state.outage = max(state.outage, p.crash_loss / n)

        # Users' load, scaled by a spike or a step increase.
        demand = arrivals.requests * effects.load
        streams = arrivals.streams * effects.load
        rx = arrivals.rx * effects.load
        held = self._held(arrivals.slow, slots, dt)
        half_open = min(p.syn_backlog * n, arrivals.half_open * p.syn_recv_s)
        fill = half_open / (p.syn_backlog * n)

        # CPU that is not request work comes first; requests get what is left.
        stream_tx = streams * p.stream_mb
        fixed = min(
            cores,
            p.base_cpu * n
            + p.syn_cpu * arrivals.half_open
            + p.held_cpu * held
            + p.mb_cpu * (rx + stream_tx)
            + p.storm_cpu * effects.storm,
        )
        capacity = (cores - fixed) / p.request_cpu  # requests per second
        served = self._serve(demand, streams, held, fill, slots, capacity, dt)
        service_cpu = served.served * p.request_cpu / dt
        hog = min(effects.hog, max(0.0, self.spec.cores - (fixed + service_cpu) / n))
        cpu = fixed + service_cpu + hog
        queued_cpu = served.offered * p.request_cpu / dt
        load = fixed + min(queued_cpu, 2 * cores) + effects.hog + p.storm_load * effects.storm
        rho = demand * p.request_cpu / max(cores - fixed, 1e-9)
        latency = self._latency(rho, effects, served.wait_s, held / slots, fill)
        state.mean_s = latency[0] / 1000.0 / EXP_QUANTILE[0]
        cold = state.transient / p.transient_s
        state.transient = max(0.0, state.transient - dt)

        throughput = served.served / dt
        attempts = served.served + served.failed
        errors = served.failed / attempts if attempts > 0 else 0.0
        connections = served.established + held + half_open
        rss = (
            p.base_rss * (n - 0.4 * cold)
            + p.conn_rss * (served.established + held)
            + p.request_rss * state.queue
            + state.leaked
        )
        values = np.array(
            [
                cpu,
                load,
                rss,
                p.base_vsize * n + 1.3 * (rss - p.base_rss * n) + p.leak_vsize * state.leaked,
                stream_tx * p.cache_miss
                + throughput * p.request_read_mb
                + p.storm_read * effects.storm
                + p.cold_read * cold,
                p.base_write * n
                + (throughput + served.failed / dt) * p.log_mb
                + p.storm_write * effects.storm,
                rx,
                throughput * p.response_mb + stream_tx + arrivals.half_open * SYNACK_MB,
                *latency,
                throughput,
                p.base_error + (1 - p.base_error) * min(1.0, errors),
                connections,
            ]
        )
        return self._noisy(values, cores)

    def _serve(
        self,
        demand: float,
        streams: float,
        held: float,
        fill: float,
        slots: float,
        capacity: float,
        dt: float,
    ) -> _Served:
        """Admit, queue and serve one step of requests (`capacity` in requests/s).

        Clients hold a connection slot for a response and a keep-alive (Little's law);
        when held and busy slots leave too few, the excess is refused. What the cores
        cannot serve waits in a backlog, which may not outgrow the free slots or the
        request timeout; the rest fails. A full SYN backlog makes a few clients give up.
        """
        p, state = self.params, self._state
        free = max(0.0, slots - held)
        needed = demand * (p.keepalive_s + state.mean_s) + streams + state.queue
        accept = 1.0 if needed <= free else free / needed
        arriving = demand * dt
        offered = state.queue + arriving
        down = min(1.0, state.down / dt) if dt > 0 else 0.0
        accepted = arriving * accept * (1 - max(state.outage, down))
        work = state.queue + accepted
        served = min(work, capacity * dt)
        queue = work - served
        overflow = max(0.0, queue - min(capacity * p.timeout_s, max(0.0, free - streams)))
        queue -= overflow
        failed = (arriving - accepted) + overflow + accepted * p.syn_drop * fill * 0.2
        failed += state.dropped
        state.queue, state.dropped, state.outage = queue, 0.0, 0.0
        state.down = max(0.0, state.down - dt)
        return _Served(
            offered=offered,
            served=served,
            failed=failed,
            wait_s=min(p.timeout_s, queue / capacity) if capacity > 0 else p.timeout_s,
            established=min(free, accepted / dt * (p.keepalive_s + state.mean_s) + streams + queue),
        )

    # -- effects -------------------------------------------------------------------------
    def _effects(self, t: float) -> Effects:
        """Combine the incidents active at `t`: each installed incident's plug-in adds its
        own (`secmas.network.incidents`, `IncidentPlugin.affect`); a hog never wants more
        than the instance's cores."""
        effects = Effects()
        for live in self._incidents:
            if live.active(t):
                active = Active(live.incident, t, live.factor, self.params, self.spec.cores)
                incident_kind(live.incident.kind).affect(effects, active)
        effects.hog = min(effects.hog, self.spec.cores)
        return effects

    def _held(self, opened: float, slots: float, dt: float) -> float:
        """Connections a slowloris holds open after this step.

        While it runs, every connection it opens stays open (it keeps each alive with a
        few header bytes) until nearly all slots are taken: only the `turnover` share it
        is reopening after the server's header timeout is ever free to clients. Once it
        stops its connections time out; behind a guard each lives only for the proxy's
        header timeout.
        """
        p, state = self.params, self._state
        most = slots * (1 - p.turnover)
        if self._guarded:
            state.held = 0.0
        elif opened > 0:
            state.held = min(most, state.held + opened * dt)
        else:
            state.held *= p.release
        return state.held

    def _leak(self, rate: float, dt: float) -> bool:
        """Grow (or, once the leak ends, free) the primary's leaked memory; True if the
        primary went over its limit and was restarted."""
        p, state = self.params, self._state
        if rate > 0:
            state.leaked += rate * dt
        else:
            state.leaked *= 0.5
        if p.base_rss + state.leaked > p.memory_limit:
            state.leaked = 0.0
            state.transient = p.transient_s
            return True
        return False

    def _latency(
        self, rho: float, effects: Effects, wait_s: float, held: float, fill: float
    ) -> tuple[float, float, float]:
        """p50, p90, p99 in ms.

        A request's own time is exponential with the M/M/1 mean service/(1 − ρ), slowed
        by a CPU hog's contention, a disk storm and a cold start; queued requests add
        their wait; a network_latency delay on the primary's PoP shows in the quantiles
        its share of requests reaches; slots held by a slowloris make clients wait for
        one; a full SYN backlog makes a share of clients retransmit their SYN.
        """
        p, state = self.params, self._state
        n = len(self._replicas)
        slow = (
            (1 + p.contention * effects.hog / self.spec.cores / n)
            * (1 + p.storm_slow * effects.storm / n)
            * (1 + state.transient / p.transient_s / n)
        )
        mean_ms = p.service_ms * slow / (1 - min(rho, p.max_rho))
        slot_ms = p.slot_wait_ms * held / max(SLOT_FULL, 1 - held) if held > 0 else 0.0
        guard_ms = p.guard_ms if self._guarded else 0.0
        retry_share = p.syn_drop * fill
        out = []
        for q, exp_q, jitter in zip(QUANTILES, EXP_QUANTILE, p.delay_jitter, strict=True):
            value = (
                effects.delay * jitter * _tail(1.0 / n, q)
                + guard_ms
                + mean_ms * exp_q
                + wait_s * 1000.0 * (1 + (exp_q - EXP_QUANTILE[0]) * 0.1)
                + slot_ms * math.sqrt(exp_q / EXP_QUANTILE[0])
                + p.rto_ms * _tail(retry_share, q)
            )
            out.append(value)
        return out[0], out[1], out[2]

    def _noisy(self, values: np.ndarray, cores: float) -> np.ndarray:
        """Multiplicative noise on every metric, kept within each metric's range."""
        noisy = values * np.exp(self._noise.normal(0.0, self.params.noise, len(values)))
        noisy[0] = min(noisy[0], cores)
        error = METRICS.index("error_rate")
        noisy[error] = min(1.0, noisy[error])
        return noisy


def _tail(share: float, q: float) -> float:
    """How much of a delay hitting `share` of requests shows at quantile `q` (0 … 1):
    none while the share is below half the quantile's tail, all once it covers the tail."""
    half = (1.0 - q) / 2
    return min(1.0, max(0.0, (share - half) / half))
