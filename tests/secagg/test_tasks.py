"""Tasks of federated training: what travels to an agent process, and bad frames refused
with what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.analytics.windows import Scaler
from secmas.secagg.tasks import ERROR_BINS, FederatedPlan, Task, TaskError

SESSION = bytes(range(16))
finite = st.floats(-1e6, 1e6, allow_nan=False)


@given(
    st.sampled_from(["magnitude", "mean", "spread", "update", "errors", "stop"]),
    st.integers(0, 1000),
    st.lists(finite, min_size=1, max_size=40),
    st.floats(0.01, 100.0),
)
def test_a_task_round_trips(kind: str, number: int, values: list[float], clip: float) -> None:
    plan = FederatedPlan(rounds=3, clip=clip, hidden=7)
    array = np.array(values)
    scaler = Scaler(array, np.abs(array) + 1.0)
    task = Task(kind, plan, number, array, -array, scaler, array * 2)  # type: ignore[arg-type]
    session, back = Task.from_bytes(task.to_bytes(SESSION))
    assert session == SESSION and back.kind == kind and back.round == number
    assert back.plan == plan
    for name in ("unit", "mean", "weights"):
        assert np.array_equal(getattr(back, name), getattr(task, name))
    assert back.scaler is not None
    assert np.array_equal(back.scaler.mean, scaler.mean)
    assert np.array_equal(back.scaler.scale, scaler.scale)


def test_lengths_of_the_answers() -> None:
    plan = FederatedPlan()
    weights = np.zeros(50)
    assert Task("magnitude", plan).length(14) == 14
    assert Task("mean", plan).length(14) == 15
    assert Task("update", plan, weights=weights).length(14) == 51
    assert Task("errors", plan).length(14) == len(ERROR_BINS) - 1
    with pytest.raises(TaskError, match="'update' task without its weights"):
        Task("update", plan).length(14)


def frame(**change: object) -> bytes:
    document = json.loads(Task("mean", FederatedPlan(), unit=np.ones(3)).to_bytes(SESSION))
    document.update(change)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff not json", "not JSON"),
        (frame(format="other/1"), "format is not"),
        (frame(kind="steal"), "task kind 'steal'"),
        (frame(session="zz"), "bad session or plan"),
        (frame(plan={"rounds": 1, "epochs": 3}), "unknown plan fields"),
        (frame(unit="!!!"), "'unit' is not base64"),
        (frame(unit="AAAA"), "are not float64 values"),
        (frame(unit="AAAAAAAA+H8="), "not finite"),
        (frame(scaler_mean="AAAAAAAAAAA=", scaler_scale="AAAAAAAAAAA="), "task scaler"),
    ],
)
def test_bad_tasks_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(TaskError, match=message):
        Task.from_bytes(data)
