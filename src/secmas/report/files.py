"""The files of a run under runs/<id>/: report.json, auctions.csv, attestation.csv
(when the trust layer ran), vnf_instances.csv (when VNF instances ran as containers on
the emulated engine), timeline.png and the scenario that ran (scenario.yaml).

report.json is strict JSON (`secmas.strictjson`): a number that is infinite or NaN, such
as the `max_latency_ms` of a service without a latency limit, is written as null and
listed under `non_finite` with what it was."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from secmas import strictjson
from secmas.agents.journal import Journal
from secmas.network.dataplane import Telemetry
from secmas.scenario.model import Scenario
from secmas.scenario.topology import dump_scenario

CSV_FIELDS = (
    "auction",
    "goal",
    "initiator",
    "sim_start_s",
    "agent",
    "vnf",
    "units",
    "T",
    "C",
    "D",
    "utility",
    "winner",
    "status",
    "refusal",
)


def write_run(
    out: Path,
    report: dict[str, Any],
    journal: Journal,
    telemetry: list[Telemetry],
    attack_window: tuple[float, float] | None,
    scenario: Scenario | None = None,
) -> list[Path]:
    """Write the files into `out` (created); returns their paths. With `scenario`, also
    scenario.yaml, so that the run can be drawn and re-run as it ran."""
    out.mkdir(parents=True, exist_ok=True)
    report_path = strictjson.write(out / "report.json", report)
    csv_path = out / "auctions.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for number, auction in enumerate(report["auctions"], 1):
            common = {
                "auction": number,
                "goal": auction["goal"],
                "initiator": auction["initiator"],
                "sim_start_s": f"{auction['sim_start_s']:.3f}",
                "status": auction["status"],
            }
            for bid in auction["bids"]:
                writer.writerow(
                    common
                    | {
                        "agent": bid["agent"],
                        "vnf": bid["vnf"],
                        "units": bid["units"],
                        "T": f"{bid['T']:.4f}",
                        "C": f"{bid['C']:.4f}",
                        "D": f"{bid['D']:.4f}",
                        "utility": f"{bid['utility']:.4f}",
                        "winner": bid["agent"] == auction["winner"],
                    }
                )
            for refusal in auction["refusals"]:
                writer.writerow(
                    common
                    | {"agent": refusal["agent"], "winner": False, "refusal": refusal["reason"]}
                )
    paths = [report_path, csv_path]
    instances = (report.get("emulation") or {}).get("vnf_instances")
    if instances:
        paths.append(_write_rows(out / "vnf_instances.csv", instances))
    if report.get("trust"):
        paths.append(_write_attestations(out / "attestation.csv", report["trust"]))
    from secmas.report.timeline import plot_timeline  # matplotlib: once a run has a plot

    png_path = out / "timeline.png"
    plot_timeline(
        telemetry,
        journal.actions,
        attack_window,
        png_path,
        f"{report['scenario']} — traffic towards the server",
    )
    paths.append(png_path)
    if scenario is not None:
        scenario_path = out / "scenario.yaml"
        scenario_path.write_text(dump_scenario(scenario), encoding="utf-8")
        paths.append(scenario_path)
    return paths


ATTESTATION_FIELDS = (
    "check",
    "step",
    "group",
    "time",
    "kind",
    "measured",
    "verifier",
    "result",
    "root_of_trust",
    "block",
    "tx",
    "wall_ms",
    "differing",
    "reasons",
    "revoke_tx",
)


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Rows of one shape as a CSV file, their keys as its header."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _write_attestations(path: Path, trust: dict[str, Any]) -> Path:
    """One row per attestation record, as on chain plus the verifier's reasons."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=ATTESTATION_FIELDS)
        writer.writeheader()
        for entry in trust["attestations"]:
            row = {k: entry.get(k) for k in ATTESTATION_FIELDS}
            row["differing"] = ";".join(entry["differing"])
            row["reasons"] = ";".join(entry["reasons"])
            writer.writerow(row)
    return path
