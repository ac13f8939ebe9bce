"""Tabular multi-objective MDP and its solvers (004_… Section 2.2, the MOMDP module).

The deliverable models the MTD decision as a multi-objective MDP over security, operational cost
and QoS overhead, solved with single- and multi-objective RL (a deep-RL agent in the project).
With a known model, as here, dynamic programming solves it exactly for each scalarisation of the
objectives, and a set of weight vectors traces the (convex part of the) Pareto front
(`secmas.mtd.pareto`).

`MOMDP` holds, per action a: the transition matrix P_a (S×S, rows summing to 1; dense or scipy
sparse), the expected immediate cost vector C[a, s] ∈ ℝ^K (all objectives minimised) and which
actions are allowed in which states. Scalarised with weights w ≥ 0, the reward is
r(s, a) = −w·C[a, s] (−∞ where a is not allowed).

* `value_iteration`: discounted infinite horizon, V ← max_a (r_a + γ P_a V) until the largest
  change is below `tol` (Bellman's optimality equation; contraction for γ < 1);
* `finite_horizon`: the same backup run backwards from a terminal value over H steps (value
  iteration with a horizon, undiscounted), giving a policy per step: what a quota over a
  fixed SLA window needs, since the remaining budget and the remaining time both matter;
* `evaluate`: the expected cost vector of a (step-dependent) policy from a start state, by
  propagating the state distribution.

Ties between actions go to the lowest action index (actions are ordered so that index 0 is the
do-nothing action), within 1e-12.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

Matrix = np.ndarray | sparse.spmatrix | sparse.sparray
TIE = 1e-12


@dataclass(frozen=True)
class MOMDP:
    """Transitions per action, cost vectors [A, S, K] and allowed actions [A, S].

    `successors` [A, S], given when every transition is deterministic, lets the solvers gather
    values by index instead of multiplying matrices (same result, faster)."""

    transitions: tuple[Matrix, ...]
    costs: np.ndarray
    allowed: np.ndarray
    successors: np.ndarray | None = None

    def __post_init__(self) -> None:
        a, s, _k = self.costs.shape
        if len(self.transitions) != a or self.allowed.shape != (a, s):
            raise ValueError("transitions, costs and allowed disagree on actions or states")
        for p in self.transitions:
            if p.shape != (s, s):
                raise ValueError(f"a transition matrix is {p.shape}, expected {(s, s)}")
        if self.successors is not None and self.successors.shape != (a, s):
            raise ValueError("successors must be [actions, states]")
        if not self.allowed.any(axis=0).all():
            raise ValueError("every state needs an allowed action")

    @property
    def dynamics(self) -> Dynamics:
        """What the solvers take: the successors when deterministic, else the matrices."""
        return self.successors if self.successors is not None else self.transitions

    @property
    def actions(self) -> int:
        return self.costs.shape[0]

    @property
    def states(self) -> int:
        return self.costs.shape[1]

    @property
    def objectives(self) -> int:
        return self.costs.shape[2]

    def rewards(self, weights: Sequence[float] | np.ndarray) -> np.ndarray:
        """[A, S] scalarised rewards −w·C, −∞ for actions not allowed."""
        w = np.asarray(weights, dtype=float)
        if w.shape != (self.objectives,) or (w < 0).any():
            raise ValueError(f"need {self.objectives} weights ≥ 0, got {weights!r}")
        r = -(self.costs @ w)
        return np.where(self.allowed, r, -np.inf)


Dynamics = Sequence[Matrix] | np.ndarray


def _backup(dynamics: Dynamics, rewards: np.ndarray, values: np.ndarray, gamma: float):
    if isinstance(dynamics, np.ndarray):  # deterministic successors [A, S]
        q = rewards + gamma * values[dynamics]
    else:
        q = np.stack([rewards[a] + gamma * (p @ values) for a, p in enumerate(dynamics)])
    best = q.max(axis=0)
    policy = np.argmax(q >= best - TIE * np.maximum(1.0, np.abs(best)), axis=0)
    return best, policy


@dataclass(frozen=True)
class Solution:
    """A stationary policy and its values (discounted)."""

    values: np.ndarray
    policy: np.ndarray
    iterations: int


def value_iteration(
    transitions: Dynamics,
    rewards: np.ndarray,
    gamma: float,
    tol: float = 1e-10,
    max_iter: int = 100_000,
) -> Solution:
    """Optimal values and a greedy policy of a discounted MDP (0 ≤ γ < 1).

    `transitions`: the matrices P_a, or an [A, S] array of deterministic successors."""
    if not 0.0 <= gamma < 1.0:
        raise ValueError("gamma must be in [0, 1)")
    values = np.zeros(rewards.shape[1])
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        new, _ = _backup(transitions, rewards, values, gamma)
        delta = float(np.max(np.abs(new - values)))
        values = new
        if delta < tol:
            break
    _, policy = _backup(transitions, rewards, values, gamma)
    return Solution(values, policy, iterations)


@dataclass(frozen=True)
class FiniteSolution:
    """values[s]: optimal value of state s with all H steps to go; policy[t, s]: action at t."""

    values: np.ndarray
    policy: np.ndarray


def finite_horizon(
    transitions: Dynamics,
    rewards: np.ndarray,
    horizon: int,
    terminal: np.ndarray | None = None,
) -> FiniteSolution:
    """Backward induction over `horizon` undiscounted steps (`transitions` as for
    `value_iteration`)."""
    s = rewards.shape[1]
    values = np.zeros(s) if terminal is None else np.asarray(terminal, dtype=float)
    dtype = np.int8 if rewards.shape[0] <= 127 else np.int32
    policy = np.empty((horizon, s), dtype=dtype)
    for t in range(horizon - 1, -1, -1):
        values, policy[t] = _backup(transitions, rewards, values, 1.0)
    return FiniteSolution(values, policy)


def evaluate(
    mdp: MOMDP, policy: np.ndarray, start: int | np.ndarray, horizon: int | None = None
) -> np.ndarray:
    """Expected summed cost vector of following `policy` ([S] stationary or [H, S]) from
    `start` (a state index or a distribution) for `horizon` steps (the policy's length)."""
    if policy.ndim == 1:
        if horizon is None:
            raise ValueError("a stationary policy needs a horizon")
        policy = np.broadcast_to(policy, (horizon, policy.shape[0]))
    if isinstance(start, int | np.integer) and mdp.successors is not None:
        state, total = int(start), np.zeros(mdp.objectives)
        for t in range(policy.shape[0]):  # deterministic: one path
            a = int(policy[t, state])
            total += mdp.costs[a, state]
            state = int(mdp.successors[a, state])
        return total
    if isinstance(start, int | np.integer):
        dist = np.zeros(mdp.states)
        dist[int(start)] = 1.0
    else:
        dist = np.asarray(start, dtype=float)
    total = np.zeros(mdp.objectives)
    for t in range(policy.shape[0]):
        nxt = np.zeros(mdp.states)
        for a, p in enumerate(mdp.transitions):
            mass = np.where(policy[t] == a, dist, 0.0)
            if not mass.any():
                continue
            total += mass @ mdp.costs[a]
            nxt += p.T @ mass
        dist = nxt
    return total
