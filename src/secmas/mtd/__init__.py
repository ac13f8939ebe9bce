"""Moving target defence: live-migration method choice and timing, synchronised parallel
migration, MTD quota, cost, attack success probability and the multi-objective strategy
(004_… Section 2). Pure computation (no agents, network or I/O) except `execution`, which
carries the plan out in a run: each move a cnfMoved goal for the agents' auctions, charged
on the path to the PoP its auction chose, re-planned when the world changes. `exposure`
reads a CNF's vulnerabilities from the CTI a subscriber received and keeps its exposure
per PoP; `timing` starts a move where the forecast traffic is lowest (004_… Section 4.2).
`recording` reads the shipped recording of measured moves on the emulated engine, and
`calibration` trains the selector and regressor on it and keeps each only where it beats the
analytical model on held-out moves (the emulated run plans with them).

Entry points: `plan_mtd` (what to migrate when, with which method, within the SLA's quota) and
`downtime` (how long a migration takes a CNF off the air, for the simulator).
"""

from secmas.mtd.attack import AttackModel, Vulnerability, asp, mean_asp
from secmas.mtd.cost import migration_cost, resource_cost
from secmas.mtd.migration import METHODS, Load, Method, MigrationModel, Phases, downtime, total_time
from secmas.mtd.planner import (
    SLA,
    AnalyticPredictor,
    CNFProfile,
    Horizon,
    MigrationStep,
    Plan,
    Predictor,
    plan,
    plan_mtd,
)
from secmas.mtd.quota import Quota, downtime_budget, mtd_quota
from secmas.mtd.regressor import Estimate, MigrationRegressor
from secmas.mtd.schedule import align
from secmas.mtd.selector import MethodSelector, Objective
from secmas.mtd.strategy import Weights

__all__ = [
    "METHODS",
    "SLA",
    "AnalyticPredictor",
    "AttackModel",
    "CNFProfile",
    "Estimate",
    "Horizon",
    "Load",
    "Method",
    "MethodSelector",
    "MigrationModel",
    "MigrationRegressor",
    "MigrationStep",
    "Objective",
    "Phases",
    "Plan",
    "Predictor",
    "Quota",
    "Vulnerability",
    "Weights",
    "align",
    "asp",
    "downtime",
    "downtime_budget",
    "mean_asp",
    "migration_cost",
    "mtd_quota",
    "plan",
    "plan_mtd",
    "resource_cost",
    "total_time",
]
