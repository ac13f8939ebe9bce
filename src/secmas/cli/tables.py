"""Rich tables the CLI prints: auctions (as Table 5.8) and scenario summaries."""

from __future__ import annotations

from rich.table import Table

from secmas.agents.outcome import AuctionOutcome
from secmas.scenario.model import Scenario


def auction_table(outcome: AuctionOutcome, title: str | None = None) -> Table:
    """Bids with T, C, D and Eq. 3.1 utility; refusals with their reason (Table 5.8)."""
    prefs = outcome.request.preferences
    table = Table(
        title=title or f"{outcome.label} by {outcome.request.auctioneer}",
        caption=f"pf_T={prefs.T:g} pf_C={prefs.C:g} pf_D={prefs.D:g}",
    )
    for column in ("agent", "VNF", "T (s)", "C", "D (ms)", "utility", ""):
        table.add_column(column, justify="left" if column in ("agent", "VNF", "") else "right")
    win = outcome.winner
    for bid, score in sorted(zip(outcome.bids, outcome.scores, strict=True), key=_by_bidder):
        mark = "[bold green]winner[/]" if bid is win else ""
        name = f"{bid.units}×{bid.vnf}" if bid.units > 1 else bid.vnf
        table.add_row(
            bid.bidder, name, f"{bid.T:.2f}", f"{bid.C:.2f}", f"{bid.D:.2f}", f"{score:.2f}", mark
        )
    for refusal in sorted(outcome.refusals, key=lambda r: r.bidder):
        table.add_row(refusal.bidder, "-", "-", "-", "-", "-", f"[dim]{refusal.reason}[/]")
    return table


def _by_bidder(pair: tuple[object, float]) -> str:
    return str(getattr(pair[0], "bidder", ""))


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
    return table
