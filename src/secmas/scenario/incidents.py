"""The incident kinds a scenario may name: the installed `secmas.incidents` plug-ins.

A CNF incident is a plug-in (`secmas.network.incident.IncidentPlugin`), registered under
the `secmas.incidents` entry-point group by secmas for its built-ins and by any
distribution for its own, so the kinds a scenario accepts are whatever is installed, not
a list written here. The plug-in is loaded through the registry when a scenario names it,
so an incident that fails to load is refused at the scenario's `incidents[i].kind`, with
the plug-in and its distribution named.
"""

from __future__ import annotations

from secmas.plugins import PluginError, plugin, plugins

GROUP = "secmas.incidents"
"""The entry-point group CNF incidents are registered under."""


def installed_incidents() -> list[str]:
    """The incident kinds installed, sorted: what `incidents[i].kind` may be."""
    return sorted(plugins(GROUP))


def installed_incident(kind: str) -> str:
    """`kind` when an incident of that name is installed and loads; ValueError naming the
    installed ones, or the plug-in that fails, otherwise (the scenario loader puts it at
    `incidents[i].kind`)."""
    known = installed_incidents()
    if kind not in known:
        raise ValueError(
            f"no incident {kind!r} is installed (installed: {', '.join(map(repr, known))})"
        )
    try:
        loaded = plugin(GROUP, kind).load()
    except PluginError as exc:
        raise ValueError(str(exc)) from None
    if not callable(getattr(loaded, "affect", None)):
        raise ValueError(f"{plugin(GROUP, kind).where()}: is no incident (it has no affect)")
    return kind
