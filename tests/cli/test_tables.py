"""The run tables the CLI prints (secmas.cli.tables)."""

from __future__ import annotations

from rich.console import Console

from secmas.cli.tables import alert_table


def rendered(analytics: dict) -> str:
    console = Console(width=160, record=True)
    console.print(alert_table(analytics))
    return console.export_text()


def alert(**fields: object) -> dict:
    return {
        "time": 29.1,
        "cnf": "web",
        "pop": "pop6",
        "score": 12.0,
        "threshold": 4.0,
        "features": [["connections", 9.0], ["net_rx", 2.0]],
        "profile": "",
    } | fields


def test_an_alert_says_which_channel_fired_on_which_metric_by_how_much() -> None:
    fired = [
        {"alert": "onset:connections", "value": 1025.0, "limit": 11.25, "ratio": 91.11},
        {"alert": "level:connections", "value": 1026.0, "limit": 13.5, "ratio": 76.0},
    ]
    text = rendered(
        {"threshold": "static", "alerts": [alert(source="onset", channels=fired)], "decisions": []}
    )
    assert "onset:connections ×91.1" in text and "level:connections ×76.0" in text


def test_a_models_alert_shows_its_score_over_its_limit_and_a_profilers_its_source() -> None:
    analytics = {
        "threshold": "static",
        "alerts": [alert(source="autoencoder"), alert(source="profiler", time=40.0)],
        "decisions": [],
    }
    text = rendered(analytics)
    assert "12.00/4.00" in text and "profiler" in text
