"""The JSON Schemas: each packaged file is what its model generates now, so neither can
drift; every scenario and sweep spec shipped or benchmarked names its schema on its
first line, where an editor finds it, and fits it, as do the documented host lists; and
each schema refuses what its model refuses field by field (it is no looser than the
model wherever JSON Schema can say it). report.json's schema is checked against a fresh
run in `tests/report/test_model.py`."""

from __future__ import annotations

import copy
import json
import os
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from secmas.cli.schema import SchemaKind
from secmas.experiment.spec import SweepSpec, load_spec
from secmas.pipeline import hosts
from secmas.pipeline.hosts import HostList, parse_hosts
from secmas.scenario import yamlfile
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Scenario
from secmas.schemas import DIALECT, KINDS, file_name, generate, packaged, render

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "secmas" / "data"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
EMBEDDED = sorted(DATA.glob("*.yaml"))
SWEEPS = sorted((ROOT / "benchmarks" / "sweeps").glob("*.yaml"))
TINY_SWEEP = ROOT / "tests" / "experiment" / "data" / "tiny.yaml"
MODELINE = re.compile(r"# yaml-language-server: \$schema=(\S+)")


def validator(kind: str) -> jsonschema.protocols.Validator:
    schema = json.loads(packaged(kind).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def problems(kind: str, data: Any) -> list[str]:
    """What the packaged schema of `kind` says is wrong with `data` (nothing: it fits)."""
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator(kind).iter_errors(data)]


def yaml_data(path: Path) -> Any:
    data, _ = yamlfile.load(path.read_text(encoding="utf-8"))
    return data


def named_schema(path: Path) -> Path:
    """The schema the file's first line names, resolved as an editor does: relative to
    the folder the file is opened from (a link to the file is not followed)."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    found = MODELINE.fullmatch(first)
    assert found, f"{path}: the first line names no schema: {first!r}"
    return Path(os.path.normpath(path.parent / found.group(1)))


# -- the packaged files ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_packaged_schema_is_what_its_model_generates(kind: str) -> None:
    packaged_text = packaged(kind).read_text(encoding="utf-8")
    assert packaged_text == render(generate(kind)), "run: .venv/bin/python -m secmas.schemas"


def test_the_schemas_are_draft_07_and_the_command_offers_every_one() -> None:
    for kind in KINDS:
        checker = validator(kind)
        assert isinstance(checker, jsonschema.Draft7Validator)
        assert checker.schema["$schema"] == DIALECT and "prefixItems" not in json.dumps(
            checker.schema
        )
    assert [k.value for k in SchemaKind] == list(KINDS)
    folder = packaged("scenario").parent
    assert sorted(p.name for p in folder.iterdir()) == sorted(file_name(k) for k in KINDS)


def test_the_packaged_schemas_are_package_data() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"data/schemas/*.json"' in text


# -- the files that name them ---------------------------------------------------------------


@pytest.mark.parametrize("path", SCENARIOS + EMBEDDED, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_scenario_names_the_scenario_schema_and_fits_it(path: Path) -> None:
    assert named_schema(path).resolve() == packaged("scenario").resolve()
    assert problems("scenario", yaml_data(path)) == []
    load_scenario(path)  # and the loader still reads it, first line and all


def test_the_embedded_scenarios_are_the_ones_in_scenarios() -> None:
    assert [p.name for p in EMBEDDED] == [p.name for p in SCENARIOS]


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_each_benchmark_sweep_names_the_sweep_schema_and_fits_it(path: Path) -> None:
    assert named_schema(path).resolve() == packaged("sweep").resolve()
    assert problems("sweep", yaml_data(path)) == []
    load_spec(path)


def test_the_test_sweep_fits_the_sweep_schema() -> None:
    assert problems("sweep", yaml_data(TINY_SWEEP)) == []


def documented_host_lists() -> list[tuple[str, str]]:
    """The host lists the docs and the host list's module show, as (where, YAML)."""
    found = []
    doc = hosts.__doc__ or ""
    block = re.search(r"\n\n(    hosts:\n.*?)\n\n", doc, re.S)
    assert block, "the module docstring shows a host list"
    found.append(("secmas.pipeline.hosts", textwrap.dedent(block.group(1))))
    for page in sorted((ROOT / "docs").rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for number, yaml_text in enumerate(re.findall(r"```yaml\n(hosts:\n.*?)```", text, re.S)):
            found.append((f"{page.relative_to(ROOT)}[{number}]", yaml_text))
    return found


@pytest.mark.parametrize(("where", "text"), documented_host_lists(), ids=lambda x: x[:40])
def test_the_documented_host_lists_fit_the_hosts_schema(where: str, text: str) -> None:
    data, _ = yamlfile.load(text)
    assert problems("hosts", data) == [], where
    parse_hosts(text, where)


# -- no looser than the models --------------------------------------------------------------

REFERENCE = yaml_data(ROOT / "scenarios" / "ddos-6pop.yaml")


def changed(base: Any, change: Callable[[Any], None]) -> Any:
    data = copy.deepcopy(base)
    change(data)
    return data


def agree(kind: str, model: type[BaseModel], data: Any, fits: bool) -> None:
    """The schema and the model both accept `data` (fits) or both refuse it."""
    try:
        model.model_validate(data)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted is fits, f"the model {'refuses' if fits else 'accepts'} it"
    found = problems(kind, data)
    assert (found == []) is fits, found or "the schema accepts it"


SCENARIO_CASES: dict[str, tuple[Callable[[Any], None], bool]] = {
    "as shipped": (lambda d: None, True),
    "no id": (lambda d: d.pop("id"), False),
    "no repository": (lambda d: d.pop("repository"), False),
    "an unknown field": (lambda d: d.update(colour="red"), False),
    "an unknown field deeper": (lambda d: d["pops"][0].update(gpus=2), False),
    "pops a number": (lambda d: d.update(pops=3), False),
    "no pops": (lambda d: d.update(pops=[]), False),
    "a negative cpu": (lambda d: d["pops"][0].update(cpu=-1), False),
    "a cpu past the largest amount": (lambda d: d["pops"][0].update(cpu=2e9), False),
    "a boolean for a number": (lambda d: d["pops"][0].update(cpu=True), False),
    "an id with a space": (lambda d: d["pops"][0].update(id="pop 1"), False),
    "a seed past 32 bits": (lambda d: d.update(seed=2**32), False),
    "an attack kind no plug-in is named": (lambda d: d["attack"].update(kind="Tele port"), False),
    "attackers past the address plan": (lambda d: d["attack"].update(attackers=70000), False),
    "a watched link with one end": (lambda d: d["defence"]["monitor"].update(link=["a"]), False),
    "an unknown cipher": (lambda d: d["security"].update(cipher="des"), False),
    "no unannounced measurements": (
        lambda d: d["security"]["attestation"].update(random=None),
        True,
    ),
    "a negative rate of unannounced measurements": (
        lambda d: d["security"]["attestation"].update(random={"rate": -1}),
        False,
    ),
    "a loss of 100 %": (lambda d: d["links"][0].update(loss=100), False),
    "an unknown constraint measure": (
        lambda d: d["goals"][0].update(constraints=[{"measure": "X", "op": "<", "value": 1}]),
        False,
    ),
}


@pytest.mark.parametrize("case", list(SCENARIO_CASES))
def test_the_scenario_schema_refuses_what_the_model_refuses(case: str) -> None:
    change, fits = SCENARIO_CASES[case]
    agree("scenario", Scenario, changed(REFERENCE, change), fits)


SPEC = {"name": "s", "scenarios": [{"ring": 6}]}
SWEEP_CASES: dict[str, tuple[dict[str, Any], bool]] = {
    "a ring": ({}, True),
    "a file by its name": ({"scenarios": ["a.yaml"]}, True),
    "ring sizes as a list": ({"scenarios": [{"ring": [6, 12]}]}, True),
    "ring sizes as a range": ({"scenarios": [{"ring": {"from": 6, "to": 12, "step": 6}}]}, True),
    "seeds as a range": ({"seeds": {"from": 0, "to": 3}}, True),
    "values as a range": ({"parameters": {"traffic.duration": {"from": 60, "to": 90}}}, True),
    "a known metric": ({"metrics": ["throttle_s"]}, True),
    "both a file and a ring": ({"scenarios": [{"file": "a.yaml", "ring": 6}]}, False),
    "no source": ({"scenarios": [{}]}, False),
    "no scenarios": ({"scenarios": []}, False),
    "a ring too small": ({"scenarios": [{"ring": 2}]}, False),
    "a negative seed": ({"seeds": [-1]}, False),
    "no seeds": ({"seeds": []}, False),
    "a range without its end": ({"seeds": {"from": 0}}, False),
    "a range with another key": ({"seeds": {"from": 0, "to": 3, "by": 1}}, False),
    "no values": ({"parameters": {"traffic.duration": []}}, False),
    "an unknown metric": ({"metrics": ["speed"]}, False),
    "no repetitions": ({"repetitions": 0}, False),
    "an unknown field": ({"colour": "red"}, False),
    "a plot without y": ({"plots": [{"x": "seed"}]}, False),
}


@pytest.mark.parametrize("case", list(SWEEP_CASES))
def test_the_sweep_schema_refuses_what_the_model_refuses(case: str) -> None:
    change, fits = SWEEP_CASES[case]
    agree("sweep", SweepSpec, {**SPEC, **change}, fits)


HOST = {"name": "edge1", "address": "10.0.1.11", "start": "ssh edge1 {command}"}
HOSTS_CASES: dict[str, tuple[Any, bool]] = {
    "one host": ({"hosts": [HOST]}, True),
    "with every field": (
        {"hosts": [{**HOST, "python": "/opt/py", "workdir": "/var/x", "pops": ["p"]}]},
        True,
    ),
    "no hosts": ({"hosts": []}, False),
    "no start": ({"hosts": [{k: v for k, v in HOST.items() if k != "start"}]}, False),
    "an unknown field": ({"hosts": [{**HOST, "port": 22}]}, False),
    "a name with a space": ({"hosts": [{**HOST, "name": "edge 1"}]}, False),
    "a python with a shell character": ({"hosts": [{**HOST, "python": "py;rm"}]}, False),
    "a pops mapping": ({"hosts": [{**HOST, "pops": {"p": 1}}]}, False),
}


@pytest.mark.parametrize("case", list(HOSTS_CASES))
def test_the_hosts_schema_refuses_what_the_model_refuses(case: str) -> None:
    data, fits = HOSTS_CASES[case]
    agree("hosts", HostList, data, fits)
