"""report.json's model and schema against a fresh run: every key the run writes is
required and none other allowed, so a change to what `build_report` writes fails here
until the model (and with it the packaged schema, `tests/test_schemas.py`) says it too.

The run is a secure 3-PoP ring for 30 simulated seconds: auctions, placements, telemetry
and the trust layer's records, in a few seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
from pydantic import ValidationError

from secmas import strictjson
from secmas.api import run
from secmas.experiment.generators import ring_scenario
from secmas.report.model import Report
from secmas.report.record import SCHEMA
from secmas.schemas import packaged


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """report.json of a fresh secure run, as the file holds it."""
    scenario = ring_scenario(3)
    assert scenario.traffic is not None
    traffic = scenario.traffic.model_copy(update={"duration": 30.0})
    scenario = scenario.model_copy(update={"traffic": traffic})
    out = tmp_path_factory.mktemp("run")
    run(scenario, out=out)
    report: dict[str, Any] = strictjson.loads((out / "report.json").read_text(encoding="utf-8"))
    return report


def problems(report: Any) -> list[str]:
    schema = json.loads(packaged("report").read_text(encoding="utf-8"))
    checker = jsonschema.Draft7Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in checker.iter_errors(report)]


def test_a_fresh_report_fits_the_model_and_the_schema(fresh: dict[str, Any]) -> None:
    assert fresh["trust"]["attestations"] and fresh["auctions"] and fresh["telemetry"]
    Report.model_validate(fresh)
    assert problems(fresh) == []


def test_every_key_the_run_writes_is_required(fresh: dict[str, Any]) -> None:
    required = {f.alias or name for name, f in Report.model_fields.items() if f.is_required()}
    assert required == set(fresh) - {"non_finite"}
    schema = json.loads(packaged("report").read_text(encoding="utf-8"))
    assert set(schema["required"]) == required
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.pop("telemetry"),
        lambda r: r.update(colour="red"),
        lambda r: r.update(schema="secmas.run/2"),
        lambda r: r["auctions"][0].update(status="maybe"),
        lambda r: next(a for a in r["auctions"] if a["bids"])["bids"][0].pop("utility"),
        lambda r: r["telemetry"][0].update(legit="a lot"),
        lambda r: r["trust"]["attestations"][0].update(result="perhaps"),
        lambda r: r["acceptance"].pop("passed"),
        lambda r: r.update(non_finite={"/x": "Huge"}),
    ],
)
def test_the_schema_and_the_model_refuse_a_changed_report(
    fresh: dict[str, Any], change: Any
) -> None:
    report = json.loads(json.dumps(fresh))
    change(report)
    with pytest.raises(ValidationError):
        Report.model_validate(report)
    assert problems(report)


def test_a_number_that_was_not_finite_may_be_null(fresh: dict[str, Any]) -> None:
    report = json.loads(json.dumps(fresh))
    report["wall_seconds"] = None
    report["non_finite"] = {"/wall_seconds": "Infinity"}
    Report.model_validate(report)
    assert problems(report) == []


def test_the_model_names_the_schema_the_run_writes() -> None:
    assert get_args(Report.model_fields["schema_"].annotation) == (SCHEMA,)
    assert Path(str(packaged("report"))).name == "report.schema.json"


def test_each_attestation_has_its_own_number(fresh: dict[str, Any]) -> None:
    """SECaaS's checks all stand at the chain's step 0: the number tells them apart."""
    entries = fresh["trust"]["attestations"]
    assert [e["check"] for e in entries] == list(range(1, len(entries) + 1))
    assert next(e["kind"] for e in entries if e["step"] == 0) == "initial"
