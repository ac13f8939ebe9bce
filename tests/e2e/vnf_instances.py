"""What every emulated run's report must say of its VNF instances: each ran as a container
in the namespace of the PoP that won it (or that the scenario placed it on), from an image
pulled there, and the Classifiers counted the flood's packets themselves."""

from __future__ import annotations

from secmas.network.infrastructure import Infrastructure
from secmas.pipeline.emulated import EmulatedResult


def check_vnfs_in_their_pops(result: EmulatedResult) -> None:
    """Every VNF instance the agents started, and the scenario's own placement, ran as a
    container in the namespace of its PoP, from an image pulled there; the Classifiers
    saw the flood's packets themselves."""
    scenario, emulation = result.scenario, result.emulation
    nodes = [p.id for p in scenario.pops] + [s.id for s in scenario.switches]
    namespaces = {node: f"{emulation['prefix']}r{i}" for i, node in enumerate(nodes)}
    rows = {(r["instance"], r["pop"]): r for r in emulation["vnf_instances"]}
    started = {(p.instance, p.pop) for p in result.journal.placements if p.kind == "start"}
    initial = {(i.id, i.pop) for i in Infrastructure.from_scenario(scenario).instances.values()}
    assert started and initial and started | initial <= set(rows), (started, initial, rows)
    for (_, pop), row in rows.items():
        assert row["namespace"] == namespaces[pop], row
        assert row["container"] and row["digest"].startswith("sha256:") and row["pulled_s"] > 0
    assert all(rows[key]["estimated_s"] is not None for key in started)
    classifiers = [r for r in rows.values() if r["vnf"] == "classifier"]
    assert classifiers and all(r["packets_seen"] > 0 for r in classifiers)
