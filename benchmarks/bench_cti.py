"""CTI selective sharing (004_… Section 4.1): scanner-report size vs time, up to 20 MB.

Reports are `secmas-scan/1` JSON of one domain, drawn with `random.Random(seed)`: hosts
with 0–8 findings each, from pools of 12 CVEs (the example reports' vectors and dates),
9 CPEs, 6 operating systems and 4 ports, so that hosts share OSes and software and the
one-decision-per-value rule has work to do. Each row times, on one core:

- read: `load_report` (JSON parse and full validation; the limit is raised for the run);
- decide: `decide` (risk per finding, one decision per attribute value);
- build: `build_bundles` (the bundle of the domain as dictionaries);
- serialise (new): `bundle_text` (`json.dumps`, what `secmas` writes and publishes);
- serialise (old): the same bundle as `stix2` objects serialised with
  `serialize(pretty=True)`, as the CTI agent once did (it took 164 s for a
  200 KB report), for the sizes where it finishes within `--old-budget` seconds;
- subscribe: `parse_bundle` (`stix2.parse(allow_custom=False)`) and `read_bundle`,
  what a subscriber does with a polled bundle before computing hygiene.

Times are wall clock on a shared machine: the load averages before and after the run are
recorded beside them (other work on the same cores inflates and scatters them).

The largest report `load_report` accepts by default is `MAX_REPORT_BYTES` (16 MiB); the
20 MB row is read with the limit raised, to show the time stays linear past it.

    python benchmarks/bench_cti.py [--quick] [--old-budget SECONDS]

Writes benchmarks/results/cti.json and cti.png.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from machine import describe
from secmas.cti.maps import load_field_map
from secmas.cti.reports import MAX_REPORT_BYTES, load_report
from secmas.cti.sharing import decide
from secmas.cti.stix import build_bundles, bundle_text, parse_bundle, read_bundle

ROOT = Path(__file__).resolve().parents[1]
CTI = ROOT / "scenarios" / "cti"
RESULTS = ROOT / "benchmarks" / "results"
KEY = b"benchmark publisher key"
SIZES_MB = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20)
QUICK_MB = (0.01, 0.02, 0.05, 0.2, 1)

CVES = (
    ("CVE-2023-44487", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "2023-10-10"),
    ("CVE-2024-7347", "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:N/I:N/A:H", "2024-08-14"),
    ("CVE-2022-41741", "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", "2022-10-19"),
    ("CVE-2023-0286", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:H", "2023-02-08"),
    ("CVE-2022-3109", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "2022-12-16"),
    ("CVE-2014-0160", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", "2014-04-07"),
    ("CVE-2021-23017", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:L/A:H", "2021-06-01"),
    ("CVE-2021-3711", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "2021-08-24"),
    ("CVE-2021-3712", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:H", "2021-08-24"),
    ("CVE-2023-38408", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "2023-07-20"),
    ("CVE-2024-6387", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", "2024-07-01"),
    ("CVE-2020-20892", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", "2021-05-12"),
)
CPES = tuple(
    f"cpe:2.3:a:{vendor}:{product}:{version}:*:*:*:*:*:*:*"
    for vendor, product, version in (
        ("f5", "nginx", "1.24.0"),
        ("f5", "nginx", "1.22.0"),
        ("f5", "nginx", "1.16.1"),
        ("openssl", "openssl", "3.0.7"),
        ("openssl", "openssl", "1.1.1k"),
        ("openssl", "openssl", "1.0.1f"),
        ("ffmpeg", "ffmpeg", "4.4.2"),
        ("ffmpeg", "ffmpeg", "5.1.6"),
        ("openbsd", "openssh", "8.9p1"),
    )
)
SYSTEMS = (
    "Ubuntu 22.04.4 LTS",
    "Ubuntu 20.04.6 LTS",
    "Ubuntu 14.04.6 LTS",
    "Debian GNU/Linux 12 (bookworm)",
    "Rocky Linux 9.2",
    "Alpine Linux 3.19",
)
PORTS = ("443/tcp", "80/tcp", "22/tcp", "general/tcp")


def report_document(size: int, seed: int = 7) -> str:
    """A `secmas-scan/1` report of about `size` bytes (see the module docstring)."""
    rng = random.Random(seed)
    hosts: list[dict[str, Any]] = []
    total = 200
    while total < size:
        i = len(hosts)
        findings = []
        for _ in range(rng.randint(0, 8)):
            cve, vector, published = rng.choice(CVES)
            findings.append(
                {
                    "cve": cve,
                    "cvss": vector,
                    "published": published,
                    "cpe": rng.choice(CPES),
                    "port": rng.choice(PORTS),
                }
            )
        host = {
            "ip": f"10.{i // 62500 + 1}.{i // 250 % 250}.{i % 250 + 1}",
            "hostname": f"node-{i:06d}.bench.example.net",
            "os": rng.choice(SYSTEMS),
            "findings": findings,
        }
        hosts.append(host)
        total += len(json.dumps(host)) + 2
    document = {
        "format": "secmas-scan/1",
        "domain": "bench",
        "scanner": "synthetic",
        "scanned_at": "2025-09-15T02:00:00Z",
        "hosts": hosts,
    }
    return json.dumps(document)


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = work()
    return value, time.perf_counter() - start


def row(path: Path, old_allowed: bool) -> dict[str, Any]:
    sensitivity = load_field_map(CTI / "sensitivity.yaml", "sensitivity")
    necessity = load_field_map(CTI / "necessity.yaml", "necessity")
    report, read_s = timed(lambda: load_report(path, max_bytes=path.stat().st_size + 1))
    (shared, decisions), decide_s = timed(lambda: decide([report], sensitivity, necessity, KEY))
    (combined, _), build_s = timed(lambda: build_bundles(shared, KEY))
    text, new_s = timed(lambda: bundle_text(combined))
    parsed, parse_s = timed(lambda: parse_bundle(text))
    received, read_bundle_s = timed(lambda: read_bundle(parsed))
    assert received == shared
    old_s = None
    if old_allowed:
        _, old_s = timed(lambda: parsed.serialize(pretty=True))
    return {
        "report_bytes": path.stat().st_size,
        "hosts": len(report.hosts),
        "findings": len(report.findings),
        "decisions": len(decisions),
        "stix_objects": len(combined["objects"]),
        "bundle_bytes": len(text.encode()),
        "read_s": read_s,
        "decide_s": decide_s,
        "build_s": build_s,
        "serialise_new_s": new_s,
        "serialise_old_s": old_s,
        "subscribe_s": parse_s + read_bundle_s,
        "publisher_total_s": read_s + decide_s + build_s + new_s,
    }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["report_bytes"] / 1e6 for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series = (
        ("publisher_total_s", "publisher: read + decide + build + serialise (new)", "o-"),
        ("serialise_new_s", "serialise, new (json.dumps)", "s-"),
        ("subscribe_s", "subscriber: stix2.parse (no custom) + read", "^-"),
    )
    for key, label, style in series:
        ax.plot(sizes, [r[key] for r in rows], style, label=label)
    old = [(s, r["serialise_old_s"]) for s, r in zip(sizes, rows, strict=True)]
    old = [(s, t) for s, t in old if t is not None]
    if old:
        ax.plot(*zip(*old, strict=True), "x--", color="red", label="serialise, old (pretty=True)")
    ax.axvline(MAX_REPORT_BYTES / 1e6, color="grey", linestyle=":", label="default size limit")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("scanner report (MB)")
    ax.set_ylabel("time (s, one core)")
    ax.set_title("CTI sharing: time vs report size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 1 MB only")
    parser.add_argument(
        "--old-budget",
        type=float,
        default=60.0,
        help="stop timing the old serialisation once one size takes longer than this",
    )
    args = parser.parse_args()
    sizes = QUICK_MB if args.quick else SIZES_MB
    rows = []
    old_allowed = True
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        for megabytes in sizes:
            path = Path(folder) / f"scan-{megabytes:g}MB.json"
            path.write_text(report_document(int(megabytes * 1e6)), encoding="utf-8")
            result = row(path, old_allowed)
            path.unlink()
            old_s = result["serialise_old_s"]
            if old_s is not None and old_s > args.old_budget:
                old_allowed = False
            rows.append(result)
            print(
                f"{result['report_bytes'] / 1e6:7.2f} MB  {result['findings']:7d} findings  "
                f"publisher {result['publisher_total_s']:7.2f} s  "
                f"serialise new {result['serialise_new_s']:6.3f} s  "
                f"old {'-' if old_s is None else f'{old_s:.2f} s'}  "
                f"subscriber {result['subscribe_s']:7.2f} s",
                flush=True,
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "machine": describe(
            ["stix2", "stix2-validator", "medallion", "taxii2-client"],
            load_average_before=load_before,
            load_average_after=os.getloadavg(),
        ),
        "limit_bytes": MAX_REPORT_BYTES,
        "old_budget_s": args.old_budget,
        "rows": rows,
    }
    (RESULTS / "cti.json").write_text(json.dumps(out, indent=1), encoding="utf-8")
    plot(rows, RESULTS / "cti.png")
    print(f"wrote {RESULTS / 'cti.json'} and {RESULTS / 'cti.png'}")


if __name__ == "__main__":
    main()
