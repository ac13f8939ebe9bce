"""Plug-ins: what a distribution of its own adds to secmas, found through entry points.

A researcher's new VNF, bid function, attack or detector lives in a package of their own
(its own `pyproject.toml`), not in a fork of secmas: the package names each addition under
one of the entry-point groups below, and secmas finds it once the package is installed, as
pytest finds its plug-ins and Flower its apps. secmas registers its own built-ins through
the same groups, in its own `pyproject.toml`, so a built-in and a user's addition are found,
loaded and measured alike: nothing of the package names a plug-in by hand.

This module only finds and loads: what a plug-in of each group must be is said where it is
used (each group's `kind`), and the trust layer measures and signs every distribution that
provides one (`distributions`). A foundation module (it imports only `secmas.extras`, to
name an extra a plug-in lacks): every layer may look plug-ins up through it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar

from secmas.extras import missing_extra

T = TypeVar("T")


@dataclass(frozen=True)
class Group:
    """An entry-point group secmas reads: what one of its plug-ins is called, and holds."""

    one: str
    holds: str


GROUPS: dict[str, Group] = {
    "secmas.vnfs": Group("VNF", "a VNF, the goals it serves and the plans that serve them"),
    "secmas.bids": Group("bid function", "how a PoP's agent prices a goal it is asked for"),
    "secmas.attacks": Group("attack", "simulated as flows, and launched on the emulated network"),
    "secmas.incidents": Group("incident", "a CNF's resource effect, and started inside a real CNF"),
    "secmas.detectors": Group("detector", "fitted on normal telemetry, then scoring it"),
    "secmas.remedies": Group("remedy", "what an SSLA violation makes the agents do"),
}
"""Every entry-point group secmas reads."""

NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
"""A plug-in's name: what scenario files and command lines call it by."""


class PluginError(Exception):
    """A plug-in cannot be used: the message names the group, the plug-in, the distribution
    that provides it and why."""


@dataclass(frozen=True)
class Plugin:
    """One entry point of a secmas group: where it is and who provides it."""

    group: str
    name: str
    target: str
    """What it loads, as `module:attribute`."""
    distribution: str
    """The providing distribution's name (`secmas` for the built-ins)."""
    version: str

    def where(self) -> str:
        """The plug-in in words, for messages: `attack 'pulse' (examples-scrub 0.1)`."""
        provider = f"{self.distribution} {self.version}, {self.target}"
        return f"{GROUPS[self.group].one} {self.name!r} ({provider})"

    def load(self, kind: type[T] | None = None) -> Any:
        """The object the entry point names; PluginError when it cannot be imported or is
        no `kind` (None: anything)."""
        entry = metadata.EntryPoint(self.name, self.target, self.group)
        try:
            loaded = entry.load()
        except Exception as exc:  # a plug-in's import may fail in any way: name it
            lacking = missing_extra(exc)  # or the extra of secmas's that it needs
            if lacking is not None:
                raise lacking from exc
            raise PluginError(f"{self.where()}: cannot be loaded: {exc}") from exc
        if kind is not None and not _is_kind(loaded, kind):
            raise PluginError(f"{self.where()}: is no {kind.__name__}")
        return loaded


def _is_kind(loaded: object, kind: type) -> bool:
    if isinstance(loaded, kind):
        return True
    return isinstance(loaded, type) and issubclass(loaded, kind)


def plugins(group: str) -> dict[str, Plugin]:
    """The plug-ins installed in `group`, by name; PluginError for an unknown group, a
    badly named plug-in or two distributions claiming one name."""
    if group not in GROUPS:
        raise PluginError(f"no plug-in group {group!r}: secmas reads {', '.join(GROUPS)}")
    return dict(_scan()[group])


def plugin(group: str, name: str) -> Plugin:
    """The plug-in `name` of `group`; PluginError naming the installed ones when none is."""
    found = plugins(group)
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise PluginError(f"no {group} plug-in {name!r} is installed (installed: {known})")
    return found[name]


def distributions() -> dict[str, list[Plugin]]:
    """Each installed distribution that provides a secmas plug-in, with its plug-ins
    (secmas itself among them): what the trust layer signs and measures."""
    by: dict[str, list[Plugin]] = {}
    for group in GROUPS:
        for found in _scan()[group].values():
            by.setdefault(found.distribution, []).append(found)
    return by


def rescan() -> None:
    """Forget what was found: a distribution installed since is seen on the next look."""
    _scan.cache_clear()


@functools.cache
def _scan() -> dict[str, dict[str, Plugin]]:
    found: dict[str, dict[str, Plugin]] = {group: {} for group in GROUPS}
    installed = metadata.entry_points()  # one pass over the distributions for every group
    for group in GROUPS:
        for entry in installed.select(group=group):
            dist = entry.dist
            name, version = (dist.metadata["Name"], dist.version) if dist else ("?", "?")
            current = Plugin(group, entry.name, entry.value, name, version)
            if not NAME.fullmatch(entry.name):
                raise PluginError(
                    f"{current.where()}: a plug-in's name is lower case letters, digits, "
                    "'_' and '-', starting with a letter"
                )
            earlier = found[group].get(entry.name)
            if earlier is not None and earlier != current:
                raise PluginError(
                    f"{group} plug-in {entry.name!r} is provided twice: by "
                    f"{earlier.distribution} ({earlier.target}) and by {name} ({entry.value})"
                )
            found[group][entry.name] = current
    return found
