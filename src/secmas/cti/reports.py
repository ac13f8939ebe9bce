"""Vulnerability-scanner reports, one per cluster/domain (deliverable 004, Section 4.1:
"vulnerability scanners in each cluster send raw reports to the CTI Agent"; Section 2.2:
OpenVAS finds running services by CPE and vulnerabilities by CVE).

Two input forms are read, both checked in full; every problem names the file, the line
(and CSV row), the field and the reason (`CTIInputError`).

**JSON** (`*.json`), format `secmas-scan/1`::

    {
      "format": "secmas-scan/1",             # optional; when given, exactly this
      "domain": "edge-a",                    # the cluster/domain the scanner ran in
      "scanner": "OpenVAS 22.4",             # optional
      "scanned_at": "2025-09-15T02:00:00Z",  # ISO 8601; naive times are UTC
      "hosts": [                              # at least one; hosts may have no findings
        {"ip": "10.20.1.11", "hostname": "cdn-01.edge-a.example",   # hostname, os optional
         "os": "Ubuntu 22.04.4 LTS",
         "findings": [
           {"cve": "CVE-2023-44487",
            "cvss": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",  # CVSS 3.0, 3.1 or 4.0
            "published": "2023-10-10",        # ISO date (or date-time)
            "cpe": "cpe:2.3:a:f5:nginx:1.24.0:*:*:*:*:*:*:*",      # CPE 2.3 or 2.2 URI
            "port": "443/tcp",                # optional: NUMBER/PROTO or general/PROTO
            "qod": 80,                        # optional: OpenVAS quality of detection, %
            "title": "HTTP/2 Rapid Reset"}    # optional
         ]}
      ]
    }

A `comment` key (any value, ignored) is allowed in every object; other unknown keys are
refused (they are usually typos).

**Size.** A report larger than `MAX_REPORT_BYTES` (16 MiB, about 60 000 findings; a
domain's daily scan is far below it) is refused before it is read, naming the file, its
size and the limit; `load_report(max_bytes=...)` raises it. Below the limit, reading,
deciding and serialising take time linear in the size (benchmarks/bench_cti.py).

**CSV** (`*.csv`), an OpenVAS results export with columns added for what OpenVAS keeps
elsewhere: required columns `IP`, `Hostname`, `Port`, `Port Protocol`, `CVEs`,
`CVSS Vector`, `Published`, `CPE`, `Timestamp`; optional `OS`, `NVT Name`, `Task Name`,
`QoD`. Column names are matched without regard to case; other columns are ignored. One
CVE per row (split rows that list several: each has its own vector). The domain is the
`domain` argument, else the `Task Name` column (one value per file) when it is a plain
label (letters, digits, `-`, `_`: `edge-b`), else the file's stem; a task name that is not
a plain label (`weekly scan dave@branch7.example`) is free text, kept as the report's
`task` and shared only as the sensitivity map allows (`secmas.cti.freetext`).
Each row's `Timestamp` is when that finding was observed (its age is counted to it).

**Free text.** The report's `scanner`, the `task` and a finding's `title` (`NVT Name`)
are written by people and tools: they go through the sensitivity map like every other
field (`MAP_FIELDS`) and are dropped unless it lets them through.

**Quality of detection.** OpenVAS rates how sure it is of a finding (QoD, 0-100 %: 97 for
a confirmed exploit, 80 for a remote version check, 30 for a package list guess); it
becomes the STIX `confidence` of what the finding supports. A report without it is taken
at `DEFAULT_QOD`, the lowest QoD a GVM report shows by default.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, TypeVar

from secmas.cti.anonymise import cpe_parts
from secmas.cti.errors import CTIInputError, FieldPath, Problem, compose, dotted, line_of
from secmas.cti.risk import CvssScore, parse_cvss

FIELDS = (
    "host_ip",
    "hostname",
    "os",
    "port",
    "cpe",
    "cve",
    "cvss_vector",
    "published",
    "title",
)
"""The key-value pairs of a finding that the sharing rule decides on, one by one."""
REPORT_FIELDS = ("scanner", "task")
"""The key-value pairs of a whole report that the sharing rule decides on."""
MAP_FIELDS = FIELDS + REPORT_FIELDS
"""Every field a sensitivity or necessity map may weigh."""

DEFAULT_QOD = 70
"""GVM's default minimum quality of detection: results below it are not in its reports."""

JSON_FORMAT = "secmas-scan/1"
CSV_REQUIRED = (
    "IP",
    "Hostname",
    "Port",
    "Port Protocol",
    "CVEs",
    "CVSS Vector",
    "Published",
    "CPE",
    "Timestamp",
)
CSV_OPTIONAL = ("OS", "NVT Name", "Task Name", "QoD")

T = TypeVar("T")

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)
_PORT = re.compile(r"^(\d{1,5}|general)/(tcp|udp|sctp|icmp)$", re.IGNORECASE)
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class Host:
    """A scanned host."""

    ip: str
    hostname: str = ""
    os: str = ""


@dataclass(frozen=True)
class Finding:
    """One vulnerability found on one host: the record whose fields are shared or not."""

    host: Host
    cve: str
    cvss: CvssScore
    published: date
    observed: datetime
    cpe: str
    port: str = ""
    title: str = ""
    qod: int = DEFAULT_QOD
    """Quality of detection, 0-100 (see the module docstring)."""

    @property
    def age_days(self) -> int:
        """Days from publication to the scan that observed it."""
        return (self.observed.date() - self.published).days

    def values(self) -> dict[str, str]:
        """The shareable key-value pairs (`FIELDS`), as strings; empty when unknown."""
        return {
            "host_ip": self.host.ip,
            "hostname": self.host.hostname,
            "os": self.host.os,
            "port": self.port,
            "cpe": self.cpe,
            "cve": self.cve,
            "cvss_vector": self.cvss.vector,
            "published": self.published.isoformat(),
            "title": self.title,
        }


@dataclass(frozen=True)
class ScanReport:
    """One scanner report of one domain."""

    source: str
    domain: str
    scanner: str
    scanned_at: datetime
    hosts: tuple[Host, ...]
    findings: tuple[Finding, ...]
    task: str = ""
    """A CSV's task name when it is free text rather than the domain's label."""

    def values(self) -> dict[str, str]:
        """The report's own shareable key-value pairs (`REPORT_FIELDS`)."""
        return {"scanner": self.scanner, "task": self.task}


MAX_REPORT_BYTES = 16 * 1024 * 1024
"""The largest scanner report read (see the module docstring)."""


def load_report(
    path: str | Path, domain: str | None = None, max_bytes: int = MAX_REPORT_BYTES
) -> ScanReport:
    """Read a `.json` or `.csv` report of at most `max_bytes`; `domain` overrides a CSV's
    domain (see above)."""
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > max_bytes:
            message = (
                f"report is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:g} MiB limit "
                "on one scanner report: split it (e.g. per cluster or per scan task)"
            )
            raise CTIInputError([Problem(str(file), "", message)])
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CTIInputError([Problem(str(file), "", f"cannot read file: {exc}")]) from None
    suffix = file.suffix.lower()
    if suffix == ".json":
        return parse_json_report(text, str(file))
    if suffix == ".csv":
        return parse_csv_report(text, str(file), domain or None, default_domain=file.stem)
    raise CTIInputError(
        [Problem(str(file), "", f"unknown report format {suffix!r}: expected .json or .csv")]
    )


# ---------------------------------------------------------------- value checks


def check_ip(value: str) -> str:
    """A normalised IPv4/IPv6 address; ValueError otherwise."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"not an IPv4 or IPv6 address: {value!r}") from None


def check_cve(value: str) -> str:
    """An upper-case CVE id (`CVE-YYYY-NNNN…`)."""
    text = value.strip()
    if "," in text or ";" in text or " " in text:
        raise ValueError(f"one CVE per finding expected, got {text!r}: split the row")
    if not _CVE.match(text):
        raise ValueError(f"not a CVE id (CVE-YYYY-NNNN): {text!r}")
    return text.upper()


def check_cpe(value: str) -> str:
    """A CPE 2.3 formatted string (13 components) or a CPE 2.2 URI (`cpe:/a:vendor:product…`)."""
    text = value.strip()
    if text.startswith("cpe:2.3:"):
        parts = cpe_parts(text)
        if len(parts) != 13 or parts[2] not in ("a", "o", "h") or "" in parts[3:5]:
            raise ValueError(
                f"not a CPE 2.3 name (cpe:2.3:part:vendor:product:version and 7 more): {text!r}"
            )
        return text
    if re.match(r"^cpe:/[aoh]:[^:]+:[^:]+", text):
        return text
    raise ValueError(f"not a CPE name (cpe:2.3:… or cpe:/…): {text!r}")


def check_date(value: str) -> date:
    """An ISO 8601 date (a date-time is cut to its date)."""
    text = value.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(f"not an ISO 8601 date (YYYY-MM-DD): {value!r}") from None


def check_datetime(value: str) -> datetime:
    """An ISO 8601 date-time, in UTC (naive times are taken as UTC)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time (YYYY-MM-DDTHH:MM:SSZ): {value!r}") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def check_port(value: str) -> str:
    """`NUMBER/PROTO` or `general/PROTO` (empty: unknown)."""
    text = value.strip().lower()
    if not text:
        return ""
    match = _PORT.match(text)
    if not match or (match.group(1) != "general" and int(match.group(1)) > 65535):
        raise ValueError(f"not a port (443/tcp or general/tcp): {value!r}")
    return text


def check_qod(value: str | int | float) -> int:
    """A quality of detection in percent, 0-100 (`80` or `80%`)."""
    if isinstance(value, bool):
        raise ValueError(f"a quality of detection is 0-100 %, got {value!r}")
    text = str(value).strip().removesuffix("%").strip()
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"not a quality of detection (0-100 %): {value!r}") from None
    if not 0 <= number <= 100:
        raise ValueError(f"a quality of detection is 0-100 %, got {value!r}")
    return round(number)


@lru_cache(maxsize=4096)
def check_cvss(value: str) -> CvssScore:
    """A parsed CVSS 3.x/4.0 vector (reports repeat a few vectors many times)."""
    return parse_cvss(value)


# ---------------------------------------------------------------- JSON

_TOP_KEYS = {"format", "domain", "cluster", "scanner", "scanned_at", "hosts", "comment"}
_HOST_KEYS = {"ip", "hostname", "os", "findings", "comment"}
_FINDING_KEYS = {"cve", "cvss", "published", "cpe", "port", "title", "qod", "comment"}


class _Checker:
    """Collects problems while reading one document; its node tree (for line numbers) is
    composed only when there is a problem to locate, since composing is far slower than
    parsing the JSON."""

    def __init__(self, source: str, text: str = "") -> None:
        self.source = source
        self.text_of_document = text
        self.problems: list[Problem] = []

    @cached_property
    def node(self) -> Any:
        return compose(self.text_of_document)

    def add(self, path: FieldPath, message: str) -> None:
        self.problems.append(Problem(self.source, dotted(path), message, line_of(self.node, path)))

    def mapping(self, data: Any, path: FieldPath, allowed: set[str]) -> dict[str, Any] | None:
        if not isinstance(data, dict):
            self.add(path, f"expected an object, got {_kind(data)}")
            return None
        for key in data:
            if key not in allowed:
                self.add((*path, key), f"unknown field (expected {', '.join(sorted(allowed))})")
        return data

    def text(self, data: dict[str, Any], path: FieldPath, key: str, required: bool) -> str | None:
        if key not in data:
            if required:
                self.add(path, f"missing field {key!r}")
                return None
            return ""
        value = data[key]
        if not isinstance(value, str):
            self.add((*path, key), f"expected a string, got {_kind(value)}")
            return None
        if required and not value.strip():
            self.add((*path, key), "must not be empty")
            return None
        return value

    def checked(
        self, data: dict[str, Any], path: FieldPath, key: str, check: Callable[[str], T]
    ) -> T | None:
        value = self.text(data, path, key, required=True)
        if value is None:
            return None
        try:
            return check(value)
        except ValueError as exc:
            self.add((*path, key), str(exc))
            return None


def parse_json_report(text: str, source: str = "<string>") -> ScanReport:
    """Validate a `secmas-scan/1` JSON report; CTIInputError naming every problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = Problem(source, "", f"JSON syntax: {exc.msg} (column {exc.colno})", exc.lineno)
        raise CTIInputError([problem]) from None
    c = _Checker(source, text)
    top = c.mapping(data, (), _TOP_KEYS)
    if top is None:
        raise CTIInputError(c.problems)
    fmt = c.text(top, (), "format", required=False)
    if fmt and fmt != JSON_FORMAT:
        c.add(("format",), f"unknown format {fmt!r}: expected {JSON_FORMAT!r}")
    domain = c.text(top, (), "domain", required=True)
    scanner = c.text(top, (), "scanner", required=False)
    c.text(top, (), "cluster", required=False)
    scanned_at = c.checked(top, (), "scanned_at", check_datetime)
    hosts_data = top.get("hosts")
    if "hosts" not in top:
        c.add((), "missing field 'hosts'")
        hosts_data = []
    elif not isinstance(hosts_data, list):
        c.add(("hosts",), f"expected a list of hosts, got {_kind(hosts_data)}")
        hosts_data = []
    elif not hosts_data:
        c.add(("hosts",), "no hosts: a scan report lists at least one host")
    hosts, findings = _json_hosts(c, hosts_data, scanned_at)
    if c.problems or domain is None or scanned_at is None:
        raise CTIInputError(c.problems)
    return ScanReport(
        source, domain.strip(), scanner or "", scanned_at, tuple(hosts), tuple(findings)
    )


def _json_hosts(
    c: _Checker, hosts_data: list[Any], scanned_at: datetime | None
) -> tuple[list[Host], list[Finding]]:
    """The hosts of a JSON report and their findings; problems go to `c`."""
    hosts: list[Host] = []
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for i, host_data in enumerate(hosts_data):
        path: FieldPath = ("hosts", i)
        entry = c.mapping(host_data, path, _HOST_KEYS)
        if entry is None:
            continue
        ip = c.checked(entry, path, "ip", check_ip)
        hostname = c.text(entry, path, "hostname", required=False)
        os = c.text(entry, path, "os", required=False)
        if ip is not None and ip in seen:
            c.add((*path, "ip"), f"duplicate host {ip} (also hosts[{seen[ip]}])")
        elif ip is not None:
            seen[ip] = i
        valid = ip is not None and hostname is not None and os is not None
        host = Host(ip or "", (hostname or "").strip(), (os or "").strip())
        if valid:
            hosts.append(host)
        items = entry.get("findings", [])
        if not isinstance(items, list):
            c.add((*path, "findings"), f"expected a list of findings, got {_kind(items)}")
            continue
        for j, item in enumerate(items):
            finding = _json_finding(c, item, (*path, "findings", j), host, scanned_at)
            if finding is not None and valid:
                findings.append(finding)
    return hosts, findings


def _json_finding(
    c: _Checker, item: Any, path: FieldPath, host: Host, observed: datetime | None
) -> Finding | None:
    entry = c.mapping(item, path, _FINDING_KEYS)
    if entry is None:
        return None
    cve = c.checked(entry, path, "cve", check_cve)
    score = c.checked(entry, path, "cvss", check_cvss)
    published = c.checked(entry, path, "published", check_date)
    cpe = c.checked(entry, path, "cpe", check_cpe)
    port_text = c.text(entry, path, "port", required=False)
    title = c.text(entry, path, "title", required=False)
    qod: int | None = DEFAULT_QOD
    if "qod" in entry:
        try:
            qod = check_qod(entry["qod"])
        except ValueError as exc:
            c.add((*path, "qod"), str(exc))
            qod = None
    port = None
    if port_text is not None:
        try:
            port = check_port(port_text)
        except ValueError as exc:
            c.add((*path, "port"), str(exc))
    if published is not None and observed is not None and published > observed.date():
        c.add((*path, "published"), f"{published} is after the scan ({observed.date()})")
        return None
    if None in (cve, score, published, cpe, port, title, observed, qod):
        return None
    assert cve and score and published and cpe and observed and port is not None
    assert qod is not None
    return Finding(host, cve, score, published, observed, cpe, port, title or "", qod)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}
    names |= {int: "a number", float: "a number"}
    if value is None:
        return "null"
    return names.get(type(value), f"a {type(value).__name__}")


# ---------------------------------------------------------------- CSV


@dataclass
class _Row:
    """One CSV data row being checked."""

    source: str
    columns: dict[str, int]
    cells: list[str]
    line: int
    row: int
    problems: list[Problem]

    def cell(self, name: str) -> str:
        index = self.columns.get(name.lower())
        return self.cells[index].strip() if index is not None else ""

    def add(self, column: str, message: str) -> None:
        self.problems.append(Problem(self.source, column, message, self.line, self.row))

    def checked(self, column: str, check: Callable[[str], T]) -> T | None:
        value = self.cell(column)
        if not value:
            self.add(column, "must not be empty")
            return None
        try:
            return check(value)
        except ValueError as exc:
            self.add(column, str(exc))
            return None


def parse_csv_report(
    text: str,
    source: str = "<string>",
    domain: str | None = None,
    default_domain: str | None = None,
) -> ScanReport:
    """Validate an OpenVAS-style CSV report (see the module docstring); CTIInputError
    naming the file, line, row, column and reason of every problem."""
    header, rows = _csv_rows(text, source)
    columns = {name.lower(): i for i, name in enumerate(header)}
    missing = [name for name in CSV_REQUIRED if name.lower() not in columns]
    if missing:
        required = ", ".join(CSV_REQUIRED)
        raise CTIInputError(
            [Problem(source, name, f"missing column (required: {required})", 1) for name in missing]
        )
    if not rows:
        raise CTIInputError([Problem(source, "", "no findings: expected rows after the header")])
    problems: list[Problem] = []
    hosts: dict[str, Host] = {}
    findings: list[Finding] = []
    tasks: dict[str, int] = {}
    for line, number, cells in rows:
        row = _Row(source, columns, cells, line, number, [])
        if len(cells) != len(header):
            row.add("", f"row has {len(cells)} cells, the header {len(header)}")
        else:
            finding = _csv_finding(row, hosts)
            if finding is not None:
                findings.append(finding)
            if row.cell("Task Name"):
                tasks.setdefault(row.cell("Task Name"), line)
        problems.extend(row.problems)
    if domain is None and len(tasks) > 1:
        where = ", ".join(f"{name!r} (line {line})" for name, line in tasks.items())
        message = f"one domain per file expected, found tasks {where}"
        problems.append(Problem(source, "Task Name", message, 1))
    if problems:
        raise CTIInputError(problems)
    task = next(iter(tasks), "")
    label = task if _LABEL.match(task) else ""
    name = domain or label or default_domain or "unknown"
    scanned_at = max(f.observed for f in findings)
    return ScanReport(
        source,
        name,
        "OpenVAS (CSV)",
        scanned_at,
        tuple(hosts.values()),
        tuple(findings),
        "" if task == name else task,
    )


def _csv_rows(text: str, source: str) -> tuple[list[str], list[tuple[int, int, list[str]]]]:
    """The header and the non-blank data rows as (first line, row number, cells)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[tuple[int, int, list[str]]] = []
    line = 0
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip() for cell in cells]
            else:
                rows.append((start, len(rows) + 1, cells))
    except csv.Error as exc:
        raise CTIInputError([Problem(source, "", f"CSV syntax: {exc}", reader.line_num)]) from None
    if header is None:
        raise CTIInputError([Problem(source, "", "empty file: expected a CSV header row", 1)])
    return header, rows


def _csv_finding(row: _Row, hosts: dict[str, Host]) -> Finding | None:
    ip = row.checked("IP", check_ip)
    cve = row.checked("CVEs", check_cve)
    score = row.checked("CVSS Vector", check_cvss)
    published = row.checked("Published", check_date)
    cpe = row.checked("CPE", check_cpe)
    observed = row.checked("Timestamp", check_datetime)
    qod = DEFAULT_QOD
    if row.cell("QoD"):
        try:
            qod = check_qod(row.cell("QoD"))
        except ValueError as exc:
            row.add("QoD", str(exc))
    port, number, protocol = "", row.cell("Port"), row.cell("Port Protocol")
    if number or protocol:
        try:
            port = check_port(f"{number or 'general'}/{protocol or 'tcp'}")
        except ValueError as exc:
            row.add("Port", str(exc))
    if published and observed and published > observed.date():
        row.add("Published", f"{published} is after the scan ({observed.date()})")
    if row.problems:
        return None
    assert ip and cve and score and published and cpe and observed
    host = hosts.setdefault(ip, Host(ip, row.cell("Hostname"), row.cell("OS")))
    return Finding(host, cve, score, published, observed, cpe, port, row.cell("NVT Name"), qod)
