"""Rich tables the CLI prints: auctions (as Table 5.8) and scenario summaries.

Cells and titles hold user text (scenario, PoP, goal names) as it is: the consoles of
`secmas.cli.output` never read markup; colour comes from `styled` cells."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.table import Table
from rich.text import Text

from secmas.cli.output import styled
from secmas.report.acceptance import ATTACK_REDUCTION, LEGIT_RATIO, REQUIRED, Acceptance
from secmas.scenario.model import Scenario

RESULT_STYLES = {"pass": "green", "fail": "red", "unmeasured": "yellow"}
"""How an attestation's result shows: `unmeasured` is no verdict on the agent."""


def auction_tables(auctions: list[dict[str, Any]]) -> Iterator[Table]:
    """A table per auction (as Table 5.8); repeated flowRateLimited auctions in one."""
    repeated = [a for a in auctions if a["goal_name"] == "flowRateLimited"]
    for auction in auctions:
        if auction["goal_name"] != "flowRateLimited":
            yield auction_table(auction)
    if repeated:
        table = Table(
            title=f"{len(repeated)} × flowRateLimited (one per malicious flow)",
            caption="winners by the lowest utility (Eq. 3.1); auctions.csv holds every bid",
        )
        for column in ("flow", "initiator", "t (s)", "winner", "bids", "status"):
            table.add_column(column)
        for auction in repeated:
            table.add_row(
                auction["args"][0],
                auction["initiator"],
                f"{auction['sim_start_s']:.1f}",
                str(auction["winner"]),
                str(len(auction["bids"])),
                auction["status"],
            )
        yield table


def auction_table(auction: dict[str, Any]) -> Table:
    """Bids with T, C, D and Eq. 3.1 utility; refusals with their reason (Table 5.8)."""
    table = Table(title=auction_title(auction), caption=auction_caption(auction))
    for column in ("agent", "VNF", "T (s)", "C", "D (ms)", "utility (lowest wins)", ""):
        table.add_column(column, justify="left" if column in ("agent", "VNF", "") else "right")
    for bid in sorted(auction["bids"], key=lambda b: b["agent"]):
        mark = styled("winner", "bold green") if bid["agent"] == auction["winner"] else ""
        name = f"{bid['units']}×{bid['vnf']}" if bid["units"] > 1 else bid["vnf"]
        table.add_row(
            bid["agent"],
            name,
            f"{bid['T']:.2f}",
            f"{bid['C']:.2f}",
            f"{bid['D']:.2f}",
            f"{bid['utility']:.2f}",
            mark,
        )
    for refusal in sorted(auction["refusals"], key=lambda r: r["agent"]):
        table.add_row(refusal["agent"], "-", "-", "-", "-", "-", styled(refusal["reason"], "dim"))
    return table


def auction_caption(auction: dict[str, Any]) -> str:
    """Who won and why, in words: the winner's utility against the next best, and the
    utility's formula with the goal's preferences (Eq. 3.1 of `003_…`), so that a reader of
    the console alone needs neither the UI nor the paper to read the table."""
    prefs = auction["preferences"]
    formula = (
        f"utility (Eq. 3.1) = {prefs['T']:g}·T̂ + {prefs['C']:g}·Ĉ + {prefs['D']:g}·(1 − D̂), "
        "with T, C and D normalised over the bids"
    )
    return f"{_verdict(auction)}\n{formula}"


def _verdict(auction: dict[str, Any]) -> str:
    """The outcome of an auction in one sentence."""
    bids = sorted(auction["bids"], key=lambda b: b["utility"])
    winner = auction["winner"]
    if winner is None:
        if bids:
            return f"no winner ({auction['status']})"
        return "no bids: every PoP refused (reasons above)" if auction["refusals"] else "no bids"
    (won,) = [b for b in bids if b["agent"] == winner]
    others = [b for b in bids if b["agent"] != winner]
    lowest = "the lowest utility" if won is bids[0] else "utility"
    against = f" (next: {others[0]['agent']}, {others[0]['utility']:.2f})" if others else ""
    return f"{winner} wins with {lowest}, {won['utility']:.2f}{against}"


def auction_title(auction: dict[str, Any]) -> str:
    """Goal, initiator, start, the traffic at stake (when there is some) and the outcome."""
    traffic = auction["traffic_mbps"]
    at_stake = f" ({traffic:.2f} MB/s)" if traffic > 0 else ""
    return (
        f"{auction['goal']} by {auction['initiator']} at t={auction['sim_start_s']:.1f} s"
        f"{at_stake} — {auction['status']}"
    )


def placement_table(placements: list[dict[str, Any]]) -> Table:
    """Where VNFs were started or terminated, when, and for which goal (or why)."""
    table = Table(title="placements")
    for column in ("t (s)", "event", "PoP", "VNF", "units", "goal / cause"):
        table.add_column(column)
    for p in placements:
        table.add_row(f"{p['time']:.1f}", p["kind"], p["pop"], p["vnf"], str(p["units"]), p["goal"])
    return table


def acceptance_table(accepted: Acceptance) -> Table:
    """The run's acceptance figures against the 90 % requirements."""
    table = Table(title="acceptance", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("")

    def verdict(ok: bool) -> Text:
        return styled("ok", "green") if ok else styled("FAILED", "red")

    unmeasured = accepted.not_measured
    for figure, label, value in (
        (ATTACK_REDUCTION, "attack traffic removed (last 20 s)", accepted.attack_reduction),
        (LEGIT_RATIO, "legitimate traffic vs before the attack", accepted.legit_ratio),
    ):
        if figure in unmeasured:
            table.add_row(label, "not measured", styled("FAILED", "red"))
        elif value is not None:
            table.add_row(label, f"{value:.1%}", verdict(value >= REQUIRED))
    table.add_row("PoP and link capacity respected", "every step", verdict(accepted.capacity_ok))
    return table


def scenario_table(scenario: Scenario) -> Table:
    """One-screen summary of a validated scenario."""
    table = Table(title=f"scenario {scenario.id}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    cores = sum(p.cpu for p in scenario.pops)
    table.add_row("description", scenario.description or "-")
    table.add_row("PoPs", f"{len(scenario.pops)} ({cores:g} cores in all)")
    table.add_row("switches / hosts", f"{len(scenario.switches)} / {len(scenario.hosts)}")
    table.add_row("links", str(len(scenario.links)))
    table.add_row("VNF repository at", scenario.repository.attach)
    table.add_row("VNF catalogue", ", ".join(v.id for v in scenario.vnfs))
    table.add_row("goals", ", ".join(g.name for g in scenario.goals) or "-")
    table.add_row("initial placements", ", ".join(f"{p.vnf}@{p.pop}" for p in scenario.placements))
    if scenario.traffic is not None:
        bg = scenario.traffic.background
        table.add_row(
            "traffic",
            f"{bg.hosts} background hosts → {scenario.traffic.server}, "
            f"{scenario.traffic.duration:g} s",
        )
    if scenario.attack is not None:
        attack = scenario.attack
        table.add_row(
            "attack",
            f"{attack.kind}: {attack.attackers} × {attack.rate:g} MB/s from t={attack.start:g} s",
        )
    security = scenario.security
    random = security.attestation.random
    table.add_row(
        "security",
        f"ledger {security.ledger}, a mutual attestation step every "
        f"{security.attestation.period:g} s"
        + ("" if random is None else f", unannounced ones every {random.mean_seconds:g} s or so")
        if security.enabled
        else "off (agents unattested)",
    )
    return table


def attestation_table(trust: dict[str, Any]) -> Table:
    """Each attestation recorded on chain: measured agent, verifier, result, RoT, tx."""
    table = Table(
        title=f"attestation of pipeline {trust['pipeline']} on ledger {trust['ledger']} "
        f"(AgentRegistry {trust['contracts']['AgentRegistry'][:10]}…)"
    )
    columns = (
        "#",
        "step",
        "t (s)",
        "kind",
        "measured",
        "verifier",
        "result",
        "block",
        "ms",
        "RoT",
        "tx",
    )
    for column in columns:
        table.add_column(column)
    for entry in trust["attestations"]:
        result = styled(entry["result"], RESULT_STYLES.get(entry["result"], "red"))
        if entry["differing"]:
            result.append(" " + ", ".join(entry["differing"][:3]))
        table.add_row(
            str(entry["check"]),
            str(entry["step"]),
            "-" if entry.get("time") is None else f"{entry['time']:g}",
            entry["kind"],
            entry["measured"],
            entry["verifier"],
            result,
            str(entry["block"]),
            f"{entry['wall_ms']:.0f}",
            entry["root_of_trust"] or "—",
            entry["tx"][:12] + "…",
        )
    return table


def attestation_summary(trust: dict[str, Any]) -> Text:
    """One line on the run's measurements: how many, how many unannounced, how many
    failed, and the longest time an agent went unmeasured (`secmas.trust.windows`)."""
    entries = trust["attestations"]
    windows = trust["measurement"]
    failed = sum(e["result"] == "fail" for e in entries)
    unmeasured = sum(e["result"] == "unmeasured" for e in entries)
    gaps = {a: w["longest_gap_s"] for a, w in windows["agents"].items() if w["longest_gap_s"]}
    longest = max(gaps, key=lambda a: gaps[a], default=None)
    return Text(
        f"attestation: {len(entries)} measurements ({windows['random']} unannounced), "
        f"{failed} failed"
        + (f", {unmeasured} unmeasured (the host's measurer did not answer)" if unmeasured else "")
        + ("" if longest is None else f", longest gap {gaps[longest]:g} s ({longest})")
    )


def _gas(amount: int) -> str:
    """Gas in k, M or G, three significant figures."""
    for unit, scale in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if amount >= scale:
            return f"{amount / scale:.3g} {unit}"
    return str(amount)


def _eth(wei: int) -> str:
    return f"{wei / 10**18:.4g} ETH"


def gas_summary(gas: dict[str, Any]) -> Text:
    """One line on what the ledger cost: the run's gas and fees from its receipts, a mean
    attestation step, and a day of steps at the period (`secmas.ledger.gas`)."""
    total, step, day = gas["total"], gas["per_step"], gas["per_day"]
    text = (
        f"gas: {total['transactions']} transactions, {_gas(total['gas'])} gas, "
        f"{_eth(total['fee_wei'])} in fees"
    )
    if step is not None and day is not None:
        text += (
            f"; a step {_gas(step['gas'])} gas in {step['transactions']} tx, a day at "
            f"{gas['period_s']:g} s {_gas(day['gas'])} gas, {_eth(day['fee_wei'])}"
        )
    return Text(text)


def gas_table(gas: dict[str, Any]) -> Table:
    """Gas and fees per contract function, as the receipts report them."""
    table = Table(title="ledger gas by function")
    for column in ("function", "tx", "gas", "fees (ETH)"):
        table.add_column(column, justify="left" if column == "function" else "right")
    for name, spent in gas["by_function"].items():
        table.add_row(
            name, str(spent["transactions"]), f"{spent['gas']:,}", f"{spent['fee_wei'] / 1e18:.6f}"
        )
    return table


def channel_summary(channel: dict[str, Any] | None) -> Text:
    """One line on the secure channel: cipher, segment, frames sealed and dropped."""
    if channel is None:
        return styled("agent messages were not encrypted (--plaintext)", "yellow")
    agents = channel["agents"].values()
    sealed = sum(a["sealed"] for a in agents)
    dropped = sum(sum(a["dropped"].values()) for a in agents)
    return Text(
        f"secure channel: {channel['cipher']} on VNI {channel['vni']}, "
        f"{sealed} frames sealed, {dropped} dropped"
    )


def workflow_table(steps: list[dict[str, Any]]) -> Table:
    """The deployment workflow (001_… Figure 2): each step, how long, how it ended."""
    table = Table(title="deployment workflow")
    for column in ("step", "what", "s", "outcome"):
        table.add_column(column)
    for step in steps:
        outcome = styled(step["outcome"], "green" if step["outcome"] == "ok" else "red")
        table.add_row(step["number"], step["name"], f"{step['seconds']:.2f}", outcome)
    return table


def alert_table(analytics: dict[str, Any]) -> Table:
    """The closed loop's alerts, each with its explanation, profile and the goals decided."""
    table = Table(title=f"closed-loop alerts ({analytics['threshold']} threshold)")
    table.add_column("t (s)", justify="right")
    table.add_column("CNF@PoP")
    table.add_column("fired: score/limit", justify="right", overflow="fold")
    table.add_column("explained by", overflow="fold")
    table.add_column("profile", overflow="fold")
    table.add_column("goals → status", overflow="fold")
    for number, alert in enumerate(analytics["alerts"]):
        goals = [d for d in analytics["decisions"] if d["alert"] == number]
        table.add_row(
            f"{alert['time']:.0f}",
            f"{alert['cnf']}@{alert['pop']}",
            _fired(alert),
            " ".join(name for name, _ in alert["features"][:3]),
            alert["profile"] or "-",
            "\n".join(f"{d['goal']} → {d['status']}" for d in goals) or "none",
        )
    return table


def _fired(alert: dict[str, Any]) -> str:
    """What raised an alert, and how far out: the detection channels that fired (each
    alert name with its value over its limit), the model's score over its limit, or the
    profiler's verdict."""
    if alert.get("channels"):
        return "\n".join(f"{c['alert']} ×{c['ratio']:.1f}" for c in alert["channels"][:2])
    if alert.get("source", "autoencoder") == "autoencoder":
        return f"{alert['score']:.2f}/{alert['threshold']:.2f}"
    return str(alert["source"])


def detection_table(analytics: dict[str, Any]) -> Table:
    """Per CNF: events detected against the run's ground truth, delays, window-level F1."""
    table = Table(title="detection against ground truth (event windows, no point-adjust)")
    for column in ("CNF", "events", "detected", "delay (s)", "false-alarm windows", "F1"):
        table.add_column(column, justify="left" if column == "CNF" else "right")
    for cnf, score in analytics["detection"].items():
        delays = score["delays"]
        table.add_row(
            cnf,
            str(score["events"]),
            str(score["detected"]),
            ", ".join(f"{d:g}" for d in delays) or "-",
            str(score["false_alarm_windows"]),
            f"{score['f1']:.3f}",
        )
    return table


MAX_ROWS = 20
"""Rows a long table shows before summarising the rest."""


def compliance_table(policy: dict[str, Any]) -> Table:
    """Per SSLA term: periods assessed, breached, not measured, and the share of the
    measured ones met ("not measured" when none was: never a compliance of 100 %)."""
    table = Table(title="SSLA compliance (one assessment per period)")
    columns = ("intent", "term", "period (s)", "periods", "breached", "not measured", "compliance")
    for column in columns:
        table.add_column(column, justify="left" if column in ("intent", "term") else "right")
    for term in policy["compliance"]:
        share = term["compliance"]
        table.add_row(
            term["intent"],
            term["term"],
            f"{term['period']:g}",
            str(term["periods"]),
            str(term["breached"]),
            str(term.get("not_measured", 0)),
            styled("not measured", "yellow") if share is None else f"{100 * share:.2f} %",
        )
    return table


def enforcement_table(policy: dict[str, Any]) -> Table:
    """The remediation actions breaches triggered, and the packets the rules rejected."""
    rejected = {
        f"{r['source']}>{r['destination']}": r["packets"] for r in policy["rejected_packets"]
    }
    table = Table(title="SSLA enforcement")
    table.add_column("t (s)", justify="right")
    table.add_column("term")
    table.add_column("action")
    table.add_column("target", overflow="fold")
    table.add_column("outcome", overflow="fold")
    table.add_column("packets rejected", justify="right")
    actions = policy["enforcements"]
    for action in actions[:MAX_ROWS]:
        flow = action["target"].split(" at ")[0]
        dropped = rejected.get(flow) if action["action"] == "REJECT_PACKET" else None
        table.add_row(
            f"{action['time']:g}",
            action["term"],
            action["action"],
            action["target"],
            action["outcome"],
            "" if dropped is None else f"{dropped:,.0f}",
        )
    if len(actions) > MAX_ROWS:
        table.add_row("", "", f"… {len(actions) - MAX_ROWS} more", "", "", "")
    return table


def vnf_instance_table(rows: list[dict[str, Any]]) -> Table:
    """The emulated run's VNF instances: where each ran, its container and image, the bid's
    T against the pull measured, and what the VNF itself saw towards the server."""
    table = Table(
        title="VNF instances (containers in their PoPs)",
        caption="T: the bid's download estimate; pulled: the real pull over the emulated links",
    )
    for column in ("instance", "VNF", "PoP", "container", "image", "T (s)", "pulled (s)", "seen"):
        table.add_column(column, justify="right" if column.endswith("(s)") else "left")
    for row in rows:
        estimate = row["estimated_s"]
        seen = row["packets_seen"]
        table.add_row(
            str(row["instance"]),
            str(row["vnf"]),
            str(row["pop"]),
            str(row["container"]),
            str(row["digest"])[:19],
            "-" if estimate is None else f"{estimate:.2f}",
            f"{row['pulled_s']:.2f}",
            "-" if seen is None else f"{seen} pkts from {row['sources_seen']} sources",
        )
    return table
