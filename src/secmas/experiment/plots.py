"""The sweep's figures: for each plot of the spec, the mean of every y measure against x,
with its 95 % confidence interval (t-distribution) as error bars, one line per series.

003's Figures 5.5 and 5.6 draw mean ± standard deviation; a confidence interval says how
well the mean is known, which is what a comparison between points needs. The summary CSV
has both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from secmas.experiment.results import Stat, aggregate, number
from secmas.experiment.spec import Plot, SweepSpec

LABELS = {
    "agents": "agents (PoPs)",
    "passed": "share of runs passing acceptance",
    "mitigation_s": "attack to mitigation, simulated s",
    "auctions": "auctions",
    "bus_messages": "bus messages",
    "wall_s": "wall s of the run",
    "peak_rss_mib": "peak RSS of the worker, MiB",
    "run_rss_mib": "RSS the run added, MiB",
    "throttle_s": "to linkRateLimited done, simulated s",
    "nfva_messages": "NFV-A messages",
    "nfva_per_auction": "NFV-A messages per auction",
    "bus_per_auction": "bus messages per auction",
    "auctions_done": "auctions achieved",
    "attack_reduction": "attack reduction (end window)",
    "legit_ratio": "legitimate traffic ratio (end window)",
    "simulated_s": "simulated s",
    "run_rss_per_agent_kib": "RSS the run added per agent, KiB",
}
"""Axis labels: short, with units (the measures' full meaning is in the README)."""


def default_plots(spec: SweepSpec) -> tuple[Plot, ...]:
    """The spec's plots, or one per grid parameter (x = agents for a sweep over
    scenarios only) of the metrics it asks for (mitigation and wall time without any)."""
    if spec.plots:
        return spec.plots
    y = spec.metrics or ("mitigation_s", "wall_s")
    axes = list(spec.parameters) or (["agents"] if len(spec.labels()) > 1 else [])
    return tuple(Plot(x=x, y=y, name=None if i == 0 else f"p{i}") for i, x in enumerate(axes))


def plot_all(spec: SweepSpec, rows: Sequence[Mapping[str, str]], folder: Path) -> list[Path]:
    """Draw every plot into `folder`; the files written."""
    return [
        plot_one(
            spec,
            plot,
            rows,
            folder / f"sweep-{spec.name}{f'-{plot.name}' if plot.name else ''}.png",
        )
        for plot in default_plots(spec)
    ]


def plot_one(spec: SweepSpec, plot: Plot, rows: Sequence[Mapping[str, str]], path: Path) -> Path:
    """One figure: a panel per y measure, a line per series value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = (plot.x,) if plot.series is None else (plot.series, plot.x)
    fig, axes = plt.subplots(1, len(plot.y), figsize=(5.5 * len(plot.y), 4.2), squeeze=False)
    for axis, measure in zip(axes[0], plot.y, strict=True):
        stats = aggregate(rows, by, measure)
        series = sorted({s.group[0] for s in stats}) if plot.series else [None]
        for name in series:
            mine = [s for s in stats if plot.series is None or s.group[0] == name]
            _draw(axis, sorted(mine, key=_x_of), "" if name is None else f"{plot.series}={name}")
        axis.set_xlabel(LABELS.get(plot.x, plot.x))
        axis.set_ylabel(LABELS.get(measure, measure))
        axis.grid(alpha=0.3)
        if plot.series is not None:
            axis.legend(fontsize=8)
    runs = len({(row["seed"], row["repetition"]) for row in rows})
    title = plot.title or spec.description or spec.name
    fig.suptitle(f"{title}\nmean and 95 % CI (t) of {runs} runs per point", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _x_of(stat: Stat) -> float:
    value = number(stat.group[-1])
    return float("inf") if value is None else value


def _draw(axis: object, stats: Sequence[Stat], label: str) -> None:
    xs = [_x_of(s) for s in stats]
    means = [s.mean for s in stats]
    below = [0.0 if s.low is None else s.mean - s.low for s in stats]
    above = [0.0 if s.high is None else s.high - s.mean for s in stats]
    axis.errorbar(  # type: ignore[attr-defined]
        xs, means, yerr=[below, above], fmt="o-", capsize=3, label=label or None
    )
