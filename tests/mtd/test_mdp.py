"""Value iteration and backward induction on tiny MDPs solved by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from secmas.mtd.mdp import MOMDP, evaluate, finite_horizon, value_iteration

# Two states, two actions. Action 0 (stay) keeps the state; action 1 (switch) flips it.
# Rewards: staying pays 0 in state 0 and 1 in state 1; switching costs 0.5 anywhere.
STAY = np.eye(2)
SWITCH = np.array([[0.0, 1.0], [1.0, 0.0]])
REWARDS = np.array([[0.0, 1.0], [-0.5, -0.5]])


def test_value_iteration_deterministic_by_hand() -> None:
    # V1 = 1 / (1 − 0.9) = 10 (stay); V0 = −0.5 + 0.9·10 = 8.5 (switch) > 0.9·V0 (stay)
    sol = value_iteration((STAY, SWITCH), REWARDS, gamma=0.9)
    assert sol.values == pytest.approx([8.5, 10.0], abs=1e-8)
    assert list(sol.policy) == [1, 0]
    assert sol.iterations > 1


def test_value_iteration_stochastic_by_hand() -> None:
    # switching from state 0 succeeds half the time: V0 = −0.5 + 0.9(0.5·V0 + 0.5·10)
    # → 0.55·V0 = 4 → V0 = 7.2727…
    flaky = np.array([[0.5, 0.5], [1.0, 0.0]])
    sol = value_iteration((STAY, sparse.csr_array(flaky)), REWARDS, gamma=0.9)
    assert sol.values == pytest.approx([4 / 0.55, 10.0], abs=1e-8)
    assert list(sol.policy) == [1, 0]


def test_successor_arrays_give_the_same_answer() -> None:
    succ = np.array([[0, 1], [1, 0]])
    a = value_iteration((STAY, SWITCH), REWARDS, gamma=0.8)
    b = value_iteration(succ, REWARDS, gamma=0.8)
    assert a.values == pytest.approx(b.values) and list(a.policy) == list(b.policy)


def test_finite_horizon_by_hand() -> None:
    # H = 1: stay everywhere (0 vs −0.5; 1 vs −0.5). H = 2 from state 0: switch then stay
    # = 0.5 > 0. H = 3: −0.5 + 2 = 1.5.
    one = finite_horizon((STAY, SWITCH), REWARDS, 1)
    assert one.values == pytest.approx([0.0, 1.0]) and list(one.policy[0]) == [0, 0]
    three = finite_horizon((STAY, SWITCH), REWARDS, 3)
    assert three.values == pytest.approx([1.5, 3.0])
    assert [list(p) for p in three.policy] == [[1, 0], [1, 0], [0, 0]]


def test_ties_go_to_the_lowest_action() -> None:
    sol = finite_horizon((STAY, STAY), np.zeros((2, 2)), 2)
    assert (sol.policy == 0).all()


def test_multi_objective_scalarisation_and_evaluation() -> None:
    # costs [A, S, 2]: staying in state 0 costs (1, 0) per step, in 1 nothing; switching
    # costs (0, 1). Minimising with weights (w, 1 − w).
    costs = np.zeros((2, 2, 2))
    costs[0, 0] = (1.0, 0.0)
    costs[1, :] = (0.0, 1.0)
    mdp = MOMDP((STAY, SWITCH), costs, np.ones((2, 2), dtype=bool))
    assert mdp.rewards([0.5, 0.5]) == pytest.approx(np.array([[-0.5, 0.0], [-0.5, -0.5]]))
    security = finite_horizon(mdp.transitions, mdp.rewards([0.9, 0.1]), 4)
    assert list(security.policy[:, 0]) == [1, 1, 1, 1]  # leave state 0 whenever in it
    assert list(security.policy[:, 1]) == [0, 0, 0, 0]  # and stay in state 1
    assert evaluate(mdp, security.policy, 0) == pytest.approx([0.0, 1.0])
    thrifty = finite_horizon(mdp.transitions, mdp.rewards([0.1, 0.9]), 4)
    assert evaluate(mdp, thrifty.policy, 0) == pytest.approx([4.0, 0.0])
    # a distribution as the start, and a stationary policy
    assert evaluate(mdp, np.array([1, 0]), np.array([0.5, 0.5]), horizon=3) == pytest.approx(
        [0.0, 0.5]
    )


def test_disallowed_actions_are_never_chosen() -> None:
    costs = np.zeros((2, 2, 1))
    costs[0, 0] = 1.0
    allowed = np.array([[True, True], [False, True]])
    mdp = MOMDP((STAY, SWITCH), costs, allowed)
    sol = finite_horizon(mdp.transitions, mdp.rewards([1.0]), 3)
    assert (sol.policy[:, 0] == 0).all()
    assert np.isneginf(mdp.rewards([1.0])[1, 0])


def test_bad_mdps_are_rejected() -> None:
    costs = np.zeros((2, 2, 1))
    with pytest.raises(ValueError):
        MOMDP((STAY,), costs, np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError):
        MOMDP((STAY, SWITCH), costs, np.zeros((2, 2), dtype=bool))
    mdp = MOMDP((STAY, SWITCH), costs, np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError):
        mdp.rewards([-1.0])
    with pytest.raises(ValueError):
        value_iteration((STAY, SWITCH), REWARDS, gamma=1.0)
