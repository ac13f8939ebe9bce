"""JSON Schemas of the files secmas reads and writes: a scenario, a sweep spec, a host list
and report.json, generated from their pydantic models so that they cannot say otherwise.

They ship in the package (`secmas/data/schemas/<kind>.schema.json`, kept equal to what
the models generate by a test), and `secmas schema KIND` prints them; a YAML file names
its schema on its first line for editors (`docs/reference/schemas.md`). They are JSON
Schema draft 07, the draft editors' YAML support validates with. A schema checks what
each field is (type, enumeration, bounds, pattern, required, no unknown key); checks
across fields (references between ids, the sweep's parameter paths, preferences that
sum to 1) are the loaders' own (`secmas scenario validate`).

`python -m secmas.schemas` rewrites the packaged files after a model changed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

DIALECT = "http://json-schema.org/draft-07/schema#"


@dataclass(frozen=True)
class Kind:
    """One file format: its model (module and class, imported when needed) and title."""

    model: str
    title: str

    def load(self) -> type[BaseModel]:
        """The pydantic model the schema is generated from."""
        module, _, name = self.model.partition(":")
        model: type[BaseModel] = getattr(importlib.import_module(module), name)
        return model


KINDS: dict[str, Kind] = {
    "scenario": Kind("secmas.scenario.model:Scenario", "secmas scenario"),
    "sweep": Kind("secmas.experiment.spec:SweepSpec", "secmas sweep spec"),
    "hosts": Kind("secmas.pipeline.hosts:HostList", "secmas host list (--hosts)"),
    "report": Kind("secmas.report.model:Report", "secmas report.json (secmas.run/1)"),
}
"""Every schema, by the name `secmas schema` takes."""


class _Draft07(GenerateJsonSchema):
    """pydantic's generator, with fixed-length tuples as draft 07 writes them (an `items`
    list) instead of 2020-12's `prefixItems`, which draft-07 validators ignore."""

    schema_dialect = DIALECT

    def tuple_schema(self, schema: core_schema.TupleSchema) -> JsonSchemaValue:
        json_schema = super().tuple_schema(schema)
        prefix = json_schema.pop("prefixItems", None)
        if prefix is not None:
            rest = json_schema.pop("items", False)
            json_schema["items"] = prefix
            json_schema["additionalItems"] = rest
        return json_schema


def generate(kind: str) -> dict[str, Any]:
    """The JSON Schema of `kind` (a key of KINDS), generated from its model now."""
    found = KINDS[kind]
    model = found.load()
    body = model.model_json_schema(schema_generator=_Draft07, mode="validation")
    body.pop("title", None)
    return {
        "$schema": DIALECT,
        "title": found.title,
        "$comment": f"Generated from {model.__module__}.{model.__name__} (secmas schema "
        f"{kind}); regenerate with python -m secmas.schemas, never edit by hand.",
        **body,
    }


def render(schema: dict[str, Any]) -> str:
    """A schema as the packaged files hold it: indented UTF-8 JSON ending in a newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def file_name(kind: str) -> str:
    return f"{kind}.schema.json"


def packaged(kind: str) -> Path:
    """The packaged schema file of `kind`."""
    return Path(str(resources.files("secmas") / "data" / "schemas" / file_name(kind)))


def main(argv: list[str] | None = None) -> int:
    """Rewrite the packaged schemas (or those of the folder given) from the models."""
    parser = argparse.ArgumentParser(
        prog="python -m secmas.schemas", description="Write the JSON schemas of the models."
    )
    parser.add_argument(
        "folder", nargs="?", type=Path, help="where to write them (default: the packaged ones)"
    )
    folder = parser.parse_args(argv).folder or packaged("scenario").parent
    folder.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        path = folder / file_name(kind)
        path.write_text(render(generate(kind)), encoding="utf-8")
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
