"""The DDoS resilience strategy's catalogue and goals (Tables 5.6 and 5.7 of `003_…`),
and those of the CNF closed loop (a web replica, a connection guard).

Generated scenarios (see `topology.py`) start from the DDoS ones; `scenarios/ddos-6pop.yaml`
and `scenarios/cnf-attack.yaml` spell all of them out so users can read and edit them.
"""

from __future__ import annotations

from secmas.scenario.model import VNF, Constraint, GoalSpec, Measure, Operator, Preferences

LINK_MONITOR = "link_monitor"
RATE_LIMITER = "rate_limiter"
ANOMALY_DETECTOR = "anomaly_detector"
CLASSIFIER = "classifier"
LOAD_BALANCER = "load_balancer"
WEB_REPLICA = "web_replica"
CONN_GUARD = "conn_guard"

IMAGE_SIZE_MB = 500.0  # Section 5.3: every VNF downloads 500 MB
WEB_REPLICA_MB = 200.0  # a web/video server container image
CONN_GUARD_MB = 100.0  # a reverse-proxy container image
MAX_LOSS_PERCENT = 8.0  # Section 5.3: 8 % maximum loss for all goals
MAX_LATENCY_MS = 100.0  # Table 5.7: rate-limit goals


def ddos_catalogue() -> tuple[VNF, ...]:
    """Table 5.6: VNF requirements (CPU, memory GB, disk GB) and supported bandwidth."""

    def vnf(vnf_id: str, cpu: float, memory: float, disk: float, mbps: float | None) -> VNF:
        return VNF.model_validate(
            {
                "id": vnf_id,
                "requirements": {"cpu": cpu, "memory": memory, "disk": disk},
                "throughput": mbps,
                "image_size": IMAGE_SIZE_MB,
            }
        )

    return (
        vnf(LINK_MONITOR, 1, 1, 2, None),
        vnf(RATE_LIMITER, 1, 1, 2, None),
        vnf(ANOMALY_DETECTOR, 1, 2, 10, 2.0),
        vnf(CLASSIFIER, 2, 4, 10, 1.0),
        vnf(LOAD_BALANCER, 1, 1, 2, None),
    )


def ddos_goals() -> tuple[GoalSpec, ...]:
    """Table 5.7: preferences and constraints of each goal, and the VNFs that achieve it."""
    loss = Constraint(measure=Measure.LOSS, op=Operator.LE, value=MAX_LOSS_PERCENT)
    latency = Constraint(measure=Measure.LATENCY, op=Operator.LE, value=MAX_LATENCY_MS)

    def goal(name: str, t: float, c: float, d: float, vnf: str, limit: bool) -> GoalSpec:
        return GoalSpec(
            name=name,
            preferences=Preferences(T=t, C=c, D=d),
            constraints=(loss, latency) if limit else (loss,),
            vnfs=(vnf,),
        )

    return (
        goal("linkRateLimited", 0.8, 0.1, 0.1, RATE_LIMITER, True),
        goal("anomalousUsage", 0.5, 0.5, 0.0, ANOMALY_DETECTOR, False),
        goal("flowRecord", 0.0, 0.2, 0.8, CLASSIFIER, False),
        goal("ipRateLimited", 0.8, 0.1, 0.1, RATE_LIMITER, True),
        goal("splitTrafficLink", 0.3, 0.7, 0.0, LOAD_BALANCER, False),
        goal("splitTrafficTowardsIp", 0.3, 0.7, 0.0, LOAD_BALANCER, False),
        goal("flowRateLimited", 0.8, 0.1, 0.1, RATE_LIMITER, True),
    )


MONITOR_GOAL = "linkMonitored"
"""The Link Monitor's standing duty: watch the defence's link. Not in Table 5.7 (the
dissertation's monitor never fails); when its agent is revoked, crashes or is killed, the
agents auction it to place a new Link Monitor (`secmas.agents.board`)."""


def monitor_goal() -> GoalSpec:
    """linkMonitored: any PoP within the loss limit, the quickest to start first."""
    loss = Constraint(measure=Measure.LOSS, op=Operator.LE, value=MAX_LOSS_PERCENT)
    return GoalSpec(
        name=MONITOR_GOAL,
        preferences=Preferences(T=0.8, C=0.2, D=0.0),
        constraints=(loss,),
        vnfs=(LINK_MONITOR,),
    )


def cnf_catalogue() -> tuple[VNF, ...]:
    """What the CNF closed loop places: one more instance of the web CNF (scale-out,
    migration and isolation all start one), and a reverse proxy with connection timeouts."""
    return tuple(
        VNF.model_validate(
            {
                "id": vnf_id,
                "requirements": {"cpu": 1, "memory": 1, "disk": 2},
                "image_size": size,
            }
        )
        for vnf_id, size in ((WEB_REPLICA, WEB_REPLICA_MB), (CONN_GUARD, CONN_GUARD_MB))
    )


def cnf_goals() -> tuple[GoalSpec, ...]:
    """Goals of the CNF closed loop, each with the 8 % loss constraint of Section 5.3."""
    loss = Constraint(measure=Measure.LOSS, op=Operator.LE, value=MAX_LOSS_PERCENT)

    def goal(name: str, t: float, c: float, d: float, vnf: str) -> GoalSpec:
        return GoalSpec(
            name=name, preferences=Preferences(T=t, C=c, D=d), constraints=(loss,), vnfs=(vnf,)
        )

    return (
        goal("cnfScaledOut", 0.5, 0.5, 0.0, WEB_REPLICA),
        goal("cnfMigrated", 0.3, 0.7, 0.0, WEB_REPLICA),
        goal("cnfIsolated", 0.6, 0.4, 0.0, WEB_REPLICA),
        goal("cnfGuarded", 0.8, 0.1, 0.1, CONN_GUARD),
        goal("cnfMoved", 0.4, 0.6, 0.0, WEB_REPLICA),
    )
