"""The attack kinds a scenario may name: the installed `secmas.attacks` plug-ins.

An attack is a plug-in (`secmas.network.attack.AttackPlugin`), registered under the
`secmas.attacks` entry-point group by secmas for its built-ins and by any distribution for
its own, so the kinds a scenario accepts are whatever is installed, not a list written
here. The scenario reads only what it checks of a kind (`AttackTraits`): whether its
sources complete TCP handshakes (then they cannot be forged), which parameters it takes,
and whether the emulated engine can launch it; the plug-in is loaded through the registry
when a scenario names it, so an attack that fails to load is refused at the scenario's
`attack.kind`, with the plug-in and its distribution named.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from secmas.plugins import PluginError, plugin, plugins

GROUP = "secmas.attacks"
"""The entry-point group attacks are registered under."""


class AttackTraits(Protocol):
    """What a scenario checks of an attack kind (the rest is the network layer's)."""

    handshakes: bool
    """Its sources complete TCP handshakes, so they cannot forge their addresses."""
    emulated: bool
    """The emulated engine can launch it (processes in the attacker namespaces)."""
    parameters: type[BaseModel]
    """The parameters it takes from the scenario's `attack.parameters`."""


def installed_kinds() -> list[str]:
    """The attack kinds installed, sorted: what `attack.kind` may be."""
    return sorted(plugins(GROUP))


def installed_kind(kind: str) -> str:
    """`kind` when an attack of that name is installed and loads; ValueError naming the
    installed ones, or the plug-in that fails, otherwise (the scenario loader puts it at
    `attack.kind`)."""
    known = installed_kinds()
    if kind not in known:
        raise ValueError(
            f"no attack {kind!r} is installed (installed: {', '.join(map(repr, known))})"
        )
    traits(kind)
    return kind


def traits(kind: str) -> AttackTraits:
    """The installed attack `kind`, loaded; ValueError naming the plug-in when it cannot be
    loaded or is no attack."""
    try:
        loaded: AttackTraits = plugin(GROUP, kind).load()
    except PluginError as exc:
        raise ValueError(str(exc)) from None
    missing = [name for name in AttackTraits.__annotations__ if not hasattr(loaded, name)]
    if missing:
        raise ValueError(
            f"{plugin(GROUP, kind).where()}: is no attack (it has no {', '.join(missing)})"
        )
    return loaded


def checked_parameters(kind: str, given: dict[str, Any]) -> BaseModel:
    """`given` read as attack `kind`'s parameters; ValueError naming each bad parameter
    (`period: Input should be greater than 0`)."""
    try:
        return traits(kind).parameters.model_validate(given)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(map(str, error['loc'])) or kind}: {error['msg']}" for error in exc.errors()
        ]
        raise ValueError(f"{kind} parameters: {'; '.join(problems)}") from None
