"""Every bad input the `secmas` command is known to meet, in one table: each exits with its
code (2 for bad input) and a message naming what and where, never with a traceback, and
a run refuses before any work (no deployment step is printed).

A row is the command line, the files it needs and what must come out. `{tmp}` in either
stands for the test's folder, `{busy}` for a port another socket listens on. Add a row for
every new bad input found; the whole table runs in process, in seconds.
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from secmas.cli.main import app, default_scenario_path
from secmas.listenport import free_port
from secmas.policy.audit import AuditLog

REFERENCE = default_scenario_path().read_text()
CNF_ATTACK = default_scenario_path("cnf-attack").read_text()
SPOOFED = str(default_scenario_path("spoofed-injection"))
FIGURE_3 = (
    Path(__file__).parents[1] / "policy" / "data" / "figure3-slice-isolation.xml"
).read_text()
# 9 anchors, each 9 aliases of the one before: ~387 million strings once expanded (385 bytes
# with the intents line). The bounded loader refuses it at the alias that goes over 100 000.
BOMB = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)
EMPTY_ANCHORS = (
    '{"format": "secmas-audit-anchors/1", "chain": "memory", "contract": "0x'
    + "0" * 40
    + '", "log_id": "0x'
    + "0" * 64
    + '", "anchors": []}'
)


def audit_log_text() -> str:
    """An audit log of one entry, as a run writes it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "audit.jsonl"
        log = AuditLog(path)
        log.append(1.0, "SSLAAssessor", "breach", "x")
        log.close()
        return path.read_text()


AUDIT_LOG = audit_log_text()


def metrics_csv(columns: str, rows: int, row: str) -> str:
    """A CNF metrics CSV: `rows` copies of `row` under the header `columns`, with a
    little variation in the first column so that detectors can fit."""
    lines = [columns]
    for index in range(rows):
        first, _, rest = row.partition(",")
        lines.append(f"{float(first) + (index % 7) * 0.01:g},{rest}")
    return "\n".join(lines) + "\n"


LABELLED = metrics_csv("cpu,load,label", 400, "0.5,10,0")


def edit(text: str, *changes: tuple[str, str]) -> str:
    """`text` with each (old, new) replaced; old must be there (the table follows the file)."""
    for old, new in changes:
        assert old in text, f"{old!r} is no longer in the reference scenario"
        text = text.replace(old, new)
    return text


def scenario(*changes: tuple[str, str]) -> dict[str, str]:
    """The reference DDoS scenario as s.yaml, edited."""
    return {"s.yaml": edit(REFERENCE, *changes)}


@dataclass(frozen=True)
class Case:
    """One bad input: argv, files to write under {tmp}, exit code, message fragment."""

    id: str
    argv: tuple[str, ...]
    says: str
    files: dict[str, str] = field(default_factory=dict)
    code: int = 2


RUN = ("run", "{tmp}/s.yaml")
HOSTS = "hosts:\n  - name: h1\n    address: 10.213.0.11\n    start: ip netns exec h1 {command}\n"
"""A host list of one host that runs every PoP."""
VALIDATE = ("scenario", "validate", "{tmp}/s.yaml")
DEMO = ("demo", "--out", "{tmp}/out")
HOSTS_RUN = (*DEMO, "--processes", "--bus", "nats://127.0.0.1:1", "--ledger", "http://127.0.0.1:1")
HOSTS_RUN += ("--hosts",)
POP4_POP6 = ("  - {a: pop4, b: pop6, bandwidth: 5, latency: 18, loss: 0.5}\n", "")
POP2_POP3 = ("  - {a: pop2, b: pop3, bandwidth: 4, latency: 30, loss: 0.5}\n", "")
ISLAND = scenario(POP4_POP6, POP2_POP3)  # pop3–pop4 cut off from the rest
NOT_ROUTED = "'pop3' has no path of links to the server 'server'"
ATTACKERS = ("  attackers: 8\n", "  attackers: 10000000\n")
PLAN = "a /16 address plan holds 254 × 256 clients"
CTI_DATA = default_scenario_path().parent / "cti"
EDGE_A = str(CTI_DATA / "edge-a.json")
CTI_MAPS = (
    "--sensitivity",
    str(CTI_DATA / "sensitivity.yaml"),
    "--necessity",
    str(CTI_DATA / "necessity.yaml"),
)
AGENT = ("agent", "--pop", "pop1", "--bus", "nats://127.0.0.1:1")
TOPOLOGY = ("scenario", "from-topology", "sndlib/abilene", "-o", "{tmp}/x.yaml")
SPEC = "name: s\nscenarios: [{ring: 6}]\n"
DETECT_FIT = ("detect", "fit", "--csv", "{tmp}/labelled.csv", "-o", "{tmp}/m.pt")
COPIED_HOST = HOSTS + HOSTS.removeprefix("hosts:\n").replace("name: h1", "name: h2")
"""Two hosts at one address, started the same way: one machine listed twice."""

CASES = [
    # -- scenario files: what `scenario validate` refuses, and `run` refuses the same ------
    Case(
        "disconnected", VALIDATE, f"s.yaml:134: traffic.background.attach[2]: {NOT_ROUTED}", ISLAND
    ),
    Case("disconnected-run", RUN, NOT_ROUTED, ISLAND),
    Case(
        "repository-cut-off",
        VALIDATE,
        "pops[2]: PoP 'pop3' has no path of links to the VNF repository at 'pop5'",
        ISLAND,
    ),
    Case(
        "host-not-linked",
        VALIDATE,
        "hosts[0].attach: host 'server' is attached to 'pop5' but no link joins them",
        scenario(("attach: pop6, ip:", "attach: pop5, ip:")),
    ),
    Case(
        "10^7-attackers",
        VALIDATE,
        f"attack.attackers: 10000000 is above 65024: {PLAN}",
        scenario(ATTACKERS),
    ),
    Case(
        "10^7-attackers-run", RUN, "attack.attackers: 10000000 is above 65024", scenario(ATTACKERS)
    ),
    Case(
        "too-many-clients",
        VALIDATE,
        "traffic.background.hosts: 65025 is above 65024",
        scenario(("    hosts: 50\n", "    hosts: 65025\n")),
    ),
    Case(
        "server-ip-999",
        VALIDATE,
        "s.yaml:26: hosts[0].ip: '999.1.1.1' is not an IPv4 address",
        scenario(("ip: 10.0.0.100", "ip: 999.1.1.1")),
    ),
    Case(
        "server-ip-v6",
        VALIDATE,
        "hosts[0].ip: '::1' is not an IPv4 address",
        scenario(("ip: 10.0.0.100", "ip: '::1'")),
    ),
    Case(
        "cpu-inf",
        VALIDATE,
        "pops[0].cpu: Input should be a finite number",
        scenario(("{id: pop1, cpu: 4,", "{id: pop1, cpu: .inf,")),
    ),
    Case(
        "cpu-1e308",
        VALIDATE,
        "pops[0].cpu: 1e+308 is above 1000000000: the largest amount a scenario may give",
        scenario(("{id: pop1, cpu: 4,", "{id: pop1, cpu: 1e308,")),
    ),
    Case(
        "latency-nan",
        VALIDATE,
        "links[0].latency: Input should be a finite number",
        scenario(("bandwidth: 10, latency: 8,", "bandwidth: 10, latency: .nan,")),
    ),
    Case(
        "constraint-inf",
        VALIDATE,
        "goals[0].constraints[0].value: Input should be a finite number",
        scenario(
            (
                '[{measure: P, op: "<=", value: 8}, {measure: L',
                '[{measure: P, op: "<=", value: .inf}, {measure: L',
            )
        ),
    ),
    Case(
        "attack-after-the-run",
        VALIDATE,
        "attack.start: the attack starts at 500 s, when the run (traffic.duration 240 s) is over",
        scenario(("  start: 20\n", "  start: 500\n")),
    ),
    Case(
        "renamed-goal",
        VALIDATE,
        "defence: the DDoS strategy (defence) auctions goal 'flowRecord': add it to goals "
        "(goals[2] is 'flowRecorded': renamed?)",
        scenario(("name: flowRecord\n", "name: flowRecorded\n")),
    ),
    Case(
        "renamed-goal-run",
        RUN,
        "auctions goal 'flowRecord'",
        scenario(("name: flowRecord\n", "name: flowRecorded\n")),
    ),
    Case(
        "closed-loop-goal-missing",
        VALIDATE,
        "analytics.detect: the closed loop auctions goal 'cnfGuarded'",
        {"s.yaml": edit(CNF_ATTACK, ("name: cnfGuarded", "name: cnfGuard"))},
    ),
    Case(
        "goal-without-vnf",
        VALIDATE,
        "goals[2].vnfs: the DDoS strategy (defence) places a VNF for 'flowRecord'",
        scenario(("    vnfs: [classifier]\n", "    vnfs: []\n")),
    ),
    Case(
        "too-many-steps",
        VALIDATE,
        "traffic: duration / step is 2400000 steps, above 100000",
        scenario(("  step: 1\n", "  step: 0.0001\n")),
    ),
    Case(
        "step-longer-than-run",
        VALIDATE,
        "traffic: step 300 s is longer than the run (240 s)",
        scenario(("  step: 1\n", "  step: 300\n")),
    ),
    Case(
        "attestation-every-0.0001-s",
        VALIDATE,
        "security.attestation.period: 0.0001 s is shorter than traffic.step (1 s)",
        scenario(("    period: 10\n", "    period: 0.0001\n")),
    ),
    Case(
        "placement-does-not-fit",
        RUN,
        "placements[0]: link_monitor needs cpu 1, memory 1 GB, disk 2 GB; pop6 has cpu 0.5",
        scenario(("{id: pop6, cpu: 2,", "{id: pop6, cpu: 0.5,")),
    ),
    Case(
        "split-into-65024-parts",
        VALIDATE,
        "defence.split_parts: 65024 parts for 6 PoPs: each part is a goal of its own",
        scenario(("  split_parts: 2\n", "  split_parts: 65024\n")),
    ),
    Case(
        "emulated-injection",
        VALIDATE,
        "attack.kind: the emulated engine does not launch attack 'injection' (the simulator does)",
        {
            "s.yaml": edit(
                default_scenario_path("ddos-emulated").read_text(),
                ("  kind: syn_flood\n", "  kind: injection\n"),
            )
        },
    ),
    Case(
        "negative-seed",
        VALIDATE,
        "seed: Input should be greater than or equal to 0",
        scenario(("seed: 7", "seed: -3")),
    ),
    Case(
        "epochs-10^6",
        VALIDATE,
        "analytics.epochs: 1000000 is above 1000: more epochs train for hours on a CPU",
        {"s.yaml": REFERENCE + "\nanalytics: {epochs: 1000000}\n"},
    ),
    Case(
        "no-traffic",
        VALIDATE,
        "traffic: a run needs a traffic section",
        {"s.yaml": REFERENCE[: REFERENCE.index("# 50 background hosts")]},
    ),
    # -- scenario files: cases the loader handled before (tests/scenario/test_loader.py) --
    Case(
        "unknown-pop",
        VALIDATE,
        "links[4].b: unknown node 'pop9'",
        scenario(("{a: pop4, b: pop6", "{a: pop4, b: pop9")),
    ),
    Case(
        "negative-capacity",
        VALIDATE,
        "pops[1].cpu: Input should be greater than 0",
        scenario(("{id: pop2, cpu: 4", "{id: pop2, cpu: -4")),
    ),
    Case(
        "yaml-syntax",
        VALIDATE,
        "(top level): YAML syntax",
        {"s.yaml": "id: x\npops: [\n  {id: a\n"},
    ),
    Case(
        "not-a-mapping", VALIDATE, "expected a mapping of scenario fields", {"s.yaml": "- 1\n- 2\n"}
    ),
    Case(
        "unknown-field",
        VALIDATE,
        "colour: Extra inputs are not permitted",
        scenario(("seed: 7", "seed: 7\ncolour: blue")),
    ),
    Case(
        "missing-file",
        ("scenario", "validate", "{tmp}/none.yaml"),
        "none.yaml: (top level): cannot read",
    ),
    # Rich markup in file names prints as it is
    Case(
        "markup-in-missing-file",
        ("scenario", "validate", "{tmp}/a[/]b.yaml"),
        "a[/]b.yaml: (top level): cannot read",
    ),
    Case(
        "markup-in-file-name",
        ("scenario", "validate", "{tmp}/ddos[v2].yaml"),
        "ddos[v2].yaml:",
        {"ddos[v2].yaml": edit(REFERENCE, ("{a: pop4, b: pop6", "{a: pop4, b: pop9"))},
    ),
    Case("markup-in-run-file", ("run", "{tmp}/[/]x.yaml"), "[/]x.yaml: (top level): cannot read"),
    # -- run arguments, checked before any work ------------------------------------------
    Case(
        "out-is-a-file",
        (*RUN, "--out", "{tmp}/file"),
        "--out {tmp}/file: a file, not a folder",
        {**scenario(), "file": "x"},
    ),
    Case(
        "out-under-a-file",
        (*RUN, "--out", "{tmp}/file/run"),
        "{tmp}/file is a file, not a folder",
        {**scenario(), "file": "x"},
    ),
    Case(
        "out-in-proc",
        (*RUN, "--out", "/proc/secmas-run"),
        "--out /proc/secmas-run: cannot create files in /proc",
        scenario(),
    ),
    Case(
        "out-empty",
        (*RUN, "--out", ""),
        "Invalid value for '--out' / '-o': an empty name",
        scenario(),
    ),
    Case(
        "out-blank",
        (*RUN, "--out", "  "),
        "Invalid value for '--out' / '-o': an empty name",
        scenario(),
    ),
    Case(
        "out-holds-files",
        (*RUN, "--out", "{tmp}/full"),
        "--out {tmp}/full already holds files (report.json): add --force",
        {**scenario(), "full/report.json": "{}"},
    ),
    Case(
        "out-holds-an-audit-log",
        (*RUN, "--out", "{tmp}/full", "--force"),
        "audit logs are never overwritten",
        {**scenario(), "full/audit.jsonl": "{}\n"},
    ),
    Case(
        "markup-in-out",
        (*RUN, "--out", "/proc/[/]x"),
        "--out /proc/[/]x: cannot create",
        scenario(),
    ),
    Case(
        "metrics-port-busy",
        (*RUN, "--detect", "--metrics-port", "{busy}"),
        "--metrics-port {busy}: cannot listen on 127.0.0.1:{busy}: in use",
        scenario(),
    ),
    Case("ui-port-busy", (*DEMO, "--ui", "--ui-port", "{busy}"), "--ui-port {busy}: cannot listen"),
    Case(
        "metrics-port-without-detect",
        (*DEMO, "--metrics-port", "0"),
        "--metrics-port: only with the closed loop; add --detect",
    ),
    Case("retrain-without-detect", (*DEMO, "--retrain"), "--retrain: only with the closed loop"),
    Case(
        "bus-without-processes",
        (*DEMO, "--bus", "nats://127.0.0.1:4222"),
        "--bus: in-process agents talk over an in-memory bus; add --processes",
    ),
    Case("ui-port-without-ui", (*DEMO, "--ui-port", "0"), "--ui-port: only with --ui"),
    Case("ui-exit-without-ui", (*DEMO, "--ui-exit"), "--ui-exit: only with --ui"),
    Case(
        "plaintext-and-insecure",
        (*DEMO, "--insecure", "--plaintext"),
        "--plaintext: with --insecure nothing is keyed",
    ),
    Case("speed-in-one-process", (*DEMO, "--speed", "5"), "--speed: paces agents as processes"),
    Case(
        "processes-with-real-cnf-demo",
        (*DEMO, "--scenario", "cnf-attack", "--dataplane", "emulated", "--processes"),
        "--processes: not with --scenario cnf-attack --dataplane emulated",
    ),
    Case(
        "same-metrics-and-ui-port",
        (
            "demo",
            "--scenario",
            "cnf-attack",
            "--out",
            "{tmp}/out",
            "--ui",
            "--ui-port",
            "{free}",
            "--metrics-port",
            "{free}",
        ),
        "are both",
    ),
    Case("negative-seed-option", (*RUN, "--seed", "-1"), "Invalid value for '--seed'", scenario()),
    Case(
        "mlfo-key-missing",
        (*RUN, "--ledger", "http://127.0.0.1:1", "--mlfo-key", "{tmp}/gone.key"),
        "--mlfo-key: {tmp}/gone.key: no such file",
        scenario(),
    ),
    Case(
        "secaas-key-malformed-folder",
        (*RUN, "--ledger", "http://127.0.0.1:1", "--secaas-key", "{tmp}"),
        "--secaas-key: {tmp}: not a regular file",
        scenario(),
    ),
    Case(
        "key-on-the-in-process-chain",
        (*DEMO, "--mlfo-key", "{tmp}/k.key"),
        "--mlfo-key: only with a JSON-RPC --ledger URL",
    ),
    # -- run arguments handled before (tests/cli/*) ---------------------------------------
    Case("ledger-scheme", (*DEMO, "--ledger", "ftp://x"), "--ledger 'ftp://x'"),
    Case("tamper-unknown-pop", (*DEMO, "--tamper", "nope"), "--tamper 'nope': not a PoP"),
    Case("tamper-insecure", (*DEMO, "--tamper", "pop3", "--insecure"), "nothing would detect it"),
    Case("unknown-demo", ("demo", "--scenario", "nope"), "--scenario 'nope': choose one of"),
    Case(
        "unknown-dataplane",
        (*DEMO, "--dataplane", "bogus"),
        "--dataplane 'bogus': choose simulator or emulated",
    ),
    Case("bad-bus-port", (*DEMO, "--processes", "--bus", "nats://a:99999"), "port is not a number"),
    Case("bus-keys-without-bus", (*DEMO, "--processes", "--bus-keys", "{tmp}"), "need --bus"),
    Case(
        "detect-without-cnfs",
        (*RUN, "--detect"),
        "--detect: scenario 'ddos-6pop' has no CNFs to watch",
        scenario(
            ("cnfs:\n  - {id: web, host: server, pop: pop6}\n", ""), ("cnfs: [web]}", "cnfs: []}")
        ),
    ),
    Case(
        "hosts-without-processes",
        (*DEMO, "--hosts", "{tmp}/h.yaml"),
        "--hosts: agents on other hosts run as processes; add --processes",
        {"h.yaml": HOSTS},
    ),
    Case(
        "hosts-without-bus",
        (*DEMO, "--processes", "--hosts", "{tmp}/h.yaml"),
        "--hosts: agents on other hosts need a NATS server they can reach; add --bus",
        {"h.yaml": HOSTS},
    ),
    Case(
        "hosts-with-memory-ledger",
        (*DEMO, "--processes", "--bus", "nats://127.0.0.1:1", "--hosts", "{tmp}/h.yaml"),
        "--hosts: agents on other hosts need a JSON-RPC ledger",
        {"h.yaml": HOSTS},
    ),
    Case(
        "hosts-unknown-pop",
        (*HOSTS_RUN, "{tmp}/h.yaml"),
        "h.yaml:5: hosts[0].pops[0]: pop9 is not a PoP of the scenario",
        {"h.yaml": HOSTS.replace("{command}\n", "{command}\n    pops: [pop9]\n", 1)},
    ),
    Case("hosts-missing-file", (*HOSTS_RUN, "{tmp}/none.yaml"), "none.yaml"),
    Case(
        "hosts-bad-template",
        (*HOSTS_RUN, "{tmp}/h.yaml"),
        "h.yaml:4: hosts[0].start",
        {"h.yaml": HOSTS.replace(" {command}", "", 1)},
    ),
    Case("missing-policy", (*DEMO, "--policy", "{tmp}/none.yaml"), "none.yaml"),
    Case(
        "bad-service",
        (*DEMO, "--service", "{tmp}/nsd.yaml"),
        "nsd.yaml:3: service.vnfs[0].vnfd: unknown VNF 'firewall'",
        {"nsd.yaml": "id: web\nvnfs:\n  - {id: g, vnfd: firewall, pop: pop9}\n"},
    ),
    Case(
        "unknown-topology",
        ("scenario", "from-topology", "abilene", "-o", "{tmp}/x.yaml"),
        "did you mean sndlib/abilene",
    ),
    Case(
        "topology-attack-kind",
        (
            "scenario",
            "from-topology",
            "sndlib/abilene",
            "-o",
            "{tmp}/x.yaml",
            "--attack-kind",
            "bogus",
        ),
        "--attack-kind must be one of",
    ),
    Case(
        "topology-attack-after-run",
        (
            "scenario",
            "from-topology",
            "sndlib/abilene",
            "-o",
            "{tmp}/x.yaml",
            "--attack-start",
            "999",
        ),
        "the attack starts at 999 s",
    ),
    Case(
        "dataset-disconnected",
        ("detect", "dataset", "{tmp}/s.yaml", "-o", "{tmp}/d.csv"),
        f"s.yaml:134: traffic.background.attach[2]: {NOT_ROUTED}",
        ISLAND,
    ),
    Case(
        "dataset-negative-seed",
        ("detect", "dataset", "{tmp}/s.yaml", "-o", "{tmp}/d.csv", "--seed", "-4"),
        "Invalid value for '--seed'",
        scenario(),
    ),
    Case(
        "topology-attackers-beyond-the-plan",
        (
            "scenario",
            "from-topology",
            "sndlib/abilene",
            "-o",
            "{tmp}/x.yaml",
            "--attackers",
            "70000",
        ),
        f"attackers: 70000 is above 65024: {PLAN}",
    ),
    Case(
        "agent-unknown-pop",
        ("agent", "--pop", "nope", "--bus", "nats://127.0.0.1:1"),
        "--pop 'nope': not a PoP",
    ),
    # -- rows other helpers listed in /work/notes/bad-inputs-*.md ---------------------------
    # bounded YAML and the SSLA reader
    Case(
        "yaml-bomb-intents",
        ("policy", "check", "{tmp}/p.yaml"),
        "p.yaml:6: f[0]: aliases repeat more than 100000 nodes (at alias *e): refused as an "
        "alias bomb",
        {"p.yaml": BOMB + "intents: [{id: x, slice: w, kind: isolation, whitelist: *i}]\n"},
    ),
    Case(
        "yaml-bomb-scenario-validate",
        VALIDATE,
        "s.yaml:6: f[0]: aliases repeat more than 100000 nodes",
        {"s.yaml": BOMB + REFERENCE},
    ),
    Case("yaml-bomb-scenario-run", RUN, "alias bomb", {"s.yaml": BOMB + REFERENCE}),
    Case(
        "yaml-bomb-nsd",
        (*DEMO, "--service", "{tmp}/nsd.yaml"),
        "nsd.yaml:6: f[0]: aliases repeat more than 100000 nodes",
        {"nsd.yaml": BOMB + "id: web\nvnfs: *i\n"},
    ),
    Case(
        "yaml-bomb-cti-map",
        (
            "cti",
            "share",
            str(default_scenario_path().parent / "cti" / "edge-a.json"),
            "--sensitivity",
            "{tmp}/m.yaml",
            "--necessity",
            str(default_scenario_path().parent / "cti" / "necessity.yaml"),
        ),
        "m.yaml:6: f[0]: aliases repeat more than 100000 nodes",
        {"m.yaml": BOMB + "kind: sensitivity\nfields: {}\n"},
    ),
    Case(
        "yaml-recursive-alias",
        VALIDATE,
        "s.yaml:1: loop[1]: recursive alias *loop: the node it names contains it",
        {"s.yaml": "loop: &loop [1, *loop]\n" + REFERENCE},
    ),
    Case(
        "yaml-duplicate-key",
        VALIDATE,
        "traffic.duration: duplicate key 'duration' (first at line",
        scenario(("  duration: 240\n", "  duration: 240\n  duration: 100000\n")),
    ),
    Case(
        "yaml-duplicate-top-key-intents",
        ("policy", "check", "{tmp}/p.yaml"),
        "p.yaml:2: intents: duplicate key 'intents' (first at line 1)",
        {"p.yaml": "intents: [{id: a, slice: w, kind: encryption}]\nintents: []\n"},
    ),
    Case(
        "yaml-too-deep",
        VALIDATE,
        "nested deeper than 64 levels: refused",
        {"s.yaml": "x: " + "[" * 70 + "]" * 70 + "\n"},
    ),
    Case(
        "yaml-too-big",
        VALIDATE,
        "file larger than 8000000 characters: refused",
        {"s.yaml": "#" * 8_000_001},
    ),
    Case(
        "yaml-huge-integer",
        VALIDATE,
        "bad value: Exceeds the limit (4300 digits)",
        scenario(("seed: 7", "seed: " + "9" * 5000)),
    ),
    Case(
        "yaml-control-character",
        VALIDATE,
        "s.yaml:2: (top level): YAML syntax: character #x0008 is not allowed",
        {"s.yaml": "id: x\nname: a\x08b\n"},
    ),
    Case(
        "ssla-figure-3-unrepaired",
        ("policy", "check", "{tmp}/f3.xml"),
        "not well-formed XML: mismatched tag",
        {"f3.xml": FIGURE_3.replace("Slice</name>", "Slice", 1)},
    ),
    Case(
        "ssla-namespace",
        ("policy", "check", "{tmp}/s.xml"),
        "s.xml:1: <ServiceLevelAgreement>: namespace 'urn:ngsi-ld:SLA:2.0', expected "
        "'urn:ngsi-ld:SLA:1.0' or 'urn:secmas:ssla:1'",
        {"s.xml": FIGURE_3.replace("urn:ngsi-ld:SLA:1.0", "urn:ngsi-ld:SLA:2.0")},
    ),
    Case(
        "ssla-action-kind",
        ("policy", "check", "{tmp}/s.xml"),
        "unknown action kind 'DELETE'; expected one of LOG, NOTIFY, REJECT_PACKET, REVOKE",
        {"s.xml": FIGURE_3.replace("<action>LOG</action>", "<action>DELETE</action>")},
    ),
    Case(
        "ssla-target-before-action",
        ("policy", "check", "{tmp}/s.xml"),
        "remediationAction/target>: before any <action>, whose target it is",
        {
            "s.xml": FIGURE_3.replace(
                "<action>NOTIFY</action>", "<target>X</target><action>NOTIFY</action>"
            )
        },
    ),
    Case(
        "ssla-kpi-target",
        ("policy", "check", "{tmp}/s.xml"),
        "bad target 'inf'; expected a finite number",
        {"s.xml": FIGURE_3.replace("<value>100</value>", "<value>inf</value>")},
    ),
    Case(
        "ssla-run-no-slice",
        ("run", SPOOFED, "--out", "{tmp}/out", "--policy", "{tmp}/f3.xml"),
        "SLA-Slice-Isolation: the SSLA names no slice: add <slice> (protected-web)",
        {"f3.xml": FIGURE_3},
    ),
    Case(
        "ssla-run-unbound-set",
        ("run", SPOOFED, "--out", "{tmp}/out", "--policy", "{tmp}/f3.xml"),
        "the KPI formula uses the named set 'whitelist', which the document does not define",
        {
            "f3.xml": FIGURE_3.replace(
                "<guaranteeTerm>", "<slice>protected-web</slice><guaranteeTerm>", 1
            )
        },
    ),
    Case(
        "ssla-figure-3-valid",
        ("policy", "check", "{tmp}/f3.xml"),
        "valid, an SSLA with 1 guarantee term",
        {"f3.xml": FIGURE_3},
        code=0,
    ),
    # audit logs and Rich markup
    Case(
        "audit-no-anchors",
        ("audit", "verify", "{tmp}/run/audit.jsonl"),
        "no anchors file {tmp}/run/audit-anchors.json: nothing shows the log was not cut "
        "short or rewritten",
        {"run/audit.jsonl": AUDIT_LOG},
        code=1,
    ),
    Case(
        "audit-empty-anchors",
        ("audit", "verify", "{tmp}/run/audit.jsonl"),
        "audit-anchors.json holds no anchors",
        {"run/audit.jsonl": AUDIT_LOG, "run/audit-anchors.json": EMPTY_ANCHORS},
        code=1,
    ),
    Case(
        "audit-ledger-no-anchors",
        ("audit", "verify", "{tmp}/run/audit.jsonl", "--ledger", "http://127.0.0.1:1"),
        "--ledger needs it: it names the contract and the log id",
        {"run/audit.jsonl": AUDIT_LOG},
        code=1,
    ),
    Case(
        "audit-no-anchors-and-anchors",
        ("audit", "verify", "{tmp}/run/audit.jsonl", "--no-anchors", "--anchors", "{tmp}/x.json"),
        "--no-anchors checks the chain alone: drop --anchors and --ledger",
        {"run/audit.jsonl": AUDIT_LOG},
    ),
    Case(
        "audit-no-anchors-and-ledger",
        (
            "audit",
            "verify",
            "{tmp}/run/audit.jsonl",
            "--no-anchors",
            "--ledger",
            "http://127.0.0.1:1",
        ),
        "--no-anchors checks the chain alone",
        {"run/audit.jsonl": AUDIT_LOG},
    ),
    Case(
        "audit-named-anchors-missing",
        ("audit", "verify", "{tmp}/run/audit.jsonl", "--anchors", "{tmp}/none.json"),
        "none.json: cannot read file",
        {"run/audit.jsonl": AUDIT_LOG},
    ),
    Case(
        "markup-in-path",
        ("scenario", "validate", "{tmp}/ddos[v2][red]x[/]:100:.yaml"),
        "ddos[v2][red]x[/]:100:.yaml",
        {"ddos[v2][red]x[/keep": ""},
    ),
    # detect fit / score; an empty CSV is refused before torch loads (it took 9-13 s;
    # test_grammar checks nothing heavy was imported)
    Case(
        "detect-empty-csv",
        ("detect", "fit", "--csv", "{tmp}/e.csv", "-o", "{tmp}/m.pt"),
        "e.csv is empty",
        {"e.csv": ""},
    ),
    Case(
        "detect-header-only-csv",
        ("detect", "fit", "--csv", "{tmp}/h.csv", "-o", "{tmp}/m.pt"),
        "h.csv has a header but no data rows",
        {"h.csv": "cpu,load\n"},
    ),
    Case(
        "detect-label-column",
        ("detect", "fit", "--csv", "{tmp}/labelled.csv", "-o", "{tmp}/m.pt"),
        "column(s) 'label' look like ground truth",
        {"labelled.csv": LABELLED},
    ),
    Case(
        "detect-binary-column",
        ("detect", "fit", "--csv", "{tmp}/m.csv", "-o", "{tmp}/m.pt"),
        "column(s) 'up' look like ground truth",
        {"m.csv": metrics_csv("cpu,up", 400, "0.5,1").replace(",1\n0.", ",0\n0.", 5)},
    ),
    Case(
        "detect-unknown-column",
        (
            "detect",
            "fit",
            "--csv",
            "{tmp}/labelled.csv",
            "-o",
            "{tmp}/m.pt",
            "--columns",
            "cpu,nope",
        ),
        "--columns: 'nope' not in",
        {"labelled.csv": LABELLED},
    ),
    Case(
        "detect-column-twice",
        (
            "detect",
            "fit",
            "--csv",
            "{tmp}/labelled.csv",
            "-o",
            "{tmp}/m.pt",
            "--columns",
            "cpu,cpu",
        ),
        "--columns: a column is named twice",
        {"labelled.csv": LABELLED},
    ),
    Case(
        "detect-unknown-candidate",
        (
            "detect",
            "fit",
            "--csv",
            "{tmp}/labelled.csv",
            "-o",
            "{tmp}/m.pt",
            "--columns",
            "cpu,load",
            "--model",
            "auto",
            "--candidates",
            "zscore,bogus",
        ),
        "--candidates: unknown bogus; choose from",
        {"labelled.csv": LABELLED},
    ),
    Case(
        "detect-unknown-model",
        ("detect", "fit", "--csv", "{tmp}/labelled.csv", "-o", "{tmp}/m.pt", "--model", "bogus"),
        "Invalid value for '--model'",
        {"labelled.csv": LABELLED},
    ),
    Case(
        "detect-discord-window",
        (
            "detect",
            "fit",
            "--csv",
            "{tmp}/labelled.csv",
            "-o",
            "{tmp}/m.pt",
            "--columns",
            "cpu",
            "--model",
            "discord",
            "--window",
            "2",
        ),
        "the discord detector needs windows of ≥ 3 steps, not 2",
        {"labelled.csv": LABELLED},
    ),
    # -- found by a new user: accepted silently before ---------------------------------------
    Case(
        "cpu-true",
        VALIDATE,
        "s.yaml:18: pops[0].cpu: a number is needed, not the boolean true",
        scenario(("{id: pop1, cpu: 4,", "{id: pop1, cpu: true,")),
    ),
    Case(
        "server-in-the-clients-plan",
        VALIDATE,
        "s.yaml:26: hosts[0].ip: host 'server' at 10.1.0.7 is inside the background clients' "
        "/16 address plan 10.1.0.0/16",
        scenario(("ip: 10.0.0.100", "ip: 10.1.0.7")),
    ),
    Case(
        "attack-below-the-threshold",
        VALIDATE,
        "s.yaml:141: attack: the monitored link pop6–server carries about 2.94 MB/s with the "
        "attack on (0.79 MB/s of it the attack's), below the Link Monitor's 4 MB/s threshold",
        scenario(("  attackers: 8\n  rate: 0.5\n", "  attackers: 8\n  rate: 0.1\n")),
        code=0,
    ),
    Case(
        "loss-0-percent",
        VALIDATE,
        "s.yaml:59: goals[0].constraints[0]: P <= 0 holds on no path between two PoPs (the "
        "least lossy loses 0.5 %): only the auctioneer's own PoP can bid for linkRateLimited",
        scenario(
            (
                '{measure: P, op: "<=", value: 8}, {measure: L',
                '{measure: P, op: "<=", value: 0}, {measure: L',
            )
        ),
        code=0,
    ),
    Case(
        "seed-above-32-bits",
        (*RUN, "--seed", "1" * 30),
        f"'--seed': {'1' * 30} is above 4294967295",
        scenario(),
    ),
    Case(
        "scenario-seed-above-32-bits",
        VALIDATE,
        "seed: Input should be less than or equal to 4294967295",
        scenario(("seed: 7", "seed: 4294967296")),
    ),
    Case(
        "seed-above-32-bits-from-topology",
        (*TOPOLOGY, "--seed", "4294967296"),
        "'--seed': 4294967296 is above 4294967295",
    ),
    Case(
        "detect-seed-above-32-bits",
        (*DETECT_FIT, "--seed", "4294967296"),
        "'--seed': 4294967296 is above 4294967295",
        {"labelled.csv": LABELLED},
    ),
    Case(
        "sweep-seed-above-32-bits",
        ("sweep", "{tmp}/spec.yaml", "--dry-run"),
        "spec.yaml:3: seeds[0]: Input should be less than or equal to 4294967295",
        {"spec.yaml": SPEC + "seeds: [4294967296]\n"},
    ),
    Case(
        "bus-certs-bad-host",
        ("bus", "certs", "--out", "{tmp}/pki", "--server", "n1", "--host", "bad host!!"),
        "--host 'bad host!!': neither an IP address nor a DNS name: label 'bad host!!' has "
        "characters other than letters, digits and hyphens",
    ),
    Case(
        "bus-certs-empty-host",
        ("bus", "certs", "--out", "{tmp}/pki", "--server", "n1", "--host", ""),
        "--host '': neither an IP address nor a DNS name: an empty name",
    ),
    Case(
        "bus-certs-server-escapes",
        ("bus", "certs", "--out", "{tmp}/pki", "--server", "../escaped", "--host", "a.example"),
        "--server '../escaped': a server name is letters, digits, '.', '_' and '-'",
    ),
    Case(
        "bus-certs-server-twice",
        ("bus", "certs", "--out", "{tmp}/pki", "--server", "n1", "--server", "n1", "--host", "h"),
        "--server 'n1' is named twice: each server needs its own name",
    ),
    Case(
        "agent-ledger-ca-without-ledger",
        (*AGENT, "--ledger-ca", "{tmp}/ca.pem"),
        "--ledger-ca needs --ledger",
    ),
    Case(
        "agent-ledger-ca-plain-ledger",
        (*AGENT, "--ledger", "http://127.0.0.1:1", "--ledger-ca", "{tmp}/ca.pem"),
        "--ledger-ca: only for an https:// --ledger, not 'http://127.0.0.1:1'",
    ),
    Case(
        "agent-ledger-token-open-to-others",
        (*AGENT, "--ledger", "http://127.0.0.1:1", "--ledger-token", "{tmp}/token"),
        "--ledger-token: {tmp}/token: a private token open to others",
        files={"token": "abc\n"},
    ),
    Case(
        "ledger-serve-access-missing",
        ("ledger", "serve", "--port", "0", "--access", "{tmp}/none"),
        "--access {tmp}/none: no such folder",
    ),
    Case(
        "agent-ledger-token-without-ledger",
        (*AGENT, "--ledger-token", "{tmp}/token"),
        "--ledger-token needs --ledger",
    ),
    Case(
        "ledger-serve-access-without-token",
        ("ledger", "serve", "--port", "0", "--access", "{tmp}"),
        "--access: {tmp}/mlfo.key: no such file",
    ),
    Case(
        "ledger-serve-access-and-out",
        ("ledger", "serve", "--port", "0", "--access", "{tmp}", "--out", "{tmp}/o"),
        "--access: the server writes no files then; drop --out and --force",
    ),
    Case(
        "cti-out-unwritable",
        ("cti", "share", EDGE_A, *CTI_MAPS, "--out", "/proc/b.json"),
        "--out /proc/b.json: cannot write: No such file or directory",
    ),
    Case(
        "cti-decisions-unwritable",
        ("cti", "share", EDGE_A, *CTI_MAPS, "--decisions", "{tmp}/none/d.csv"),
        "--decisions {tmp}/none/d.csv: no folder {tmp}/none",
    ),
    Case(
        "cti-report-twice",
        ("cti", "share", EDGE_A, EDGE_A, *CTI_MAPS),
        f"<arguments>: reports: {EDGE_A} is {EDGE_A} again: give each report once",
    ),
    Case(
        "cti-report-copied",
        ("cti", "share", EDGE_A, "{tmp}/copy.json", *CTI_MAPS),
        "reports: {tmp}/copy.json holds the same report as " + EDGE_A,
        {"copy.json": Path(EDGE_A).read_text()},
    ),
    Case(
        "policy-empty-xml",
        ("policy", "check", "{tmp}/e.xml"),
        "{tmp}/e.xml: the file is empty",
        {"e.xml": ""},
    ),
    Case(
        "policy-empty-run",
        ("run", SPOOFED, "--out", "{tmp}/out", "--policy", "{tmp}/e.xml"),
        "e.xml: the file is empty",
        {"e.xml": ""},
    ),
    Case(
        "policy-utf16-without-bom",
        ("policy", "check", "{tmp}/u.xml"),
        "{tmp}/u.xml: not UTF-8 text (a NUL byte at offset 1: UTF-16 or UTF-32 without a "
        "byte-order mark?): save it as UTF-8",
        {"u.xml": "<\x00S\x00L\x00A\x00/\x00>\x00"},
    ),
    Case(
        "detect-constant-column",
        (*DETECT_FIT, "--columns", "cpu,load"),
        "--columns: 'load' is constant (10 in all 400 rows): nothing to learn from it; "
        "leave it out",
        {"labelled.csv": LABELLED},
    ),
    Case(
        "detect-constant-column-auto",
        (*DETECT_FIT, "--columns", "cpu,load", "--model", "auto"),
        "--columns: 'load' is constant (10 in all 400 rows)",
        {"labelled.csv": LABELLED},
    ),
    Case(
        "detect-constant-column-unnamed",
        ("detect", "fit", "--csv", "{tmp}/m.csv", "-o", "{tmp}/m.pt"),
        "m.csv: column 'load' is constant (10 in all 400 rows): nothing to learn from it; "
        "leave it out (--columns cpu)",
        {"m.csv": metrics_csv("cpu,load", 400, "0.5,10")},
    ),
    Case(
        "hosts-same-address-same-start",
        (*HOSTS_RUN, "{tmp}/h.yaml"),
        "h.yaml:6: hosts[1].address: h2 and h1 are both at 10.213.0.11 and started the same "
        "way: one machine listed twice",
        {"h.yaml": COPIED_HOST},
    ),
]


@pytest.fixture
def busy() -> Iterator[int]:
    """A port another socket listens on for the test's length."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_exits_with_a_located_message_and_no_traceback(
    case: Case, tmp_path: Path, busy: int
) -> None:
    values = {"{tmp}": str(tmp_path), "{busy}": str(busy), "{free}": str(free_port())}

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    for name, text in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, [fill(arg) for arg in case.argv], terminal_width=200)
    said = " ".join(result.output.split())  # the consoles fold long lines
    assert result.exit_code == case.code, result.output
    assert " ".join(fill(case.says).split()) in said, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert "step 0:" not in said and "closed loop: training" not in said, "work was done"
