"""Kubernetes names from scenario ids, and the checks of names a user gives.

Object names, label values and Service host names must be DNS-1123 labels: at most 63
characters of `a-z`, `0-9` and `-`, beginning and ending with a letter or digit. A scenario
id may also hold capitals, `_`, `.` and `:`, so a PoP id is mapped by lower-casing it and
turning those three into `-`. The mapping is refused (never silently "repaired") when the
result is no label, e.g. an id that starts with `_`, or when two PoPs map to one name
(`PoP1` and `pop1`): each agent must have its own pod, Secrets and label value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import secmas

MAX_LABEL = 63
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SEPARATORS = str.maketrans({"_": "-", ".": "-", ":": "-"})
AGENT_PREFIX = "agent-"
"""Every agent's objects are named `agent-<pop>`."""

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
_IMAGE = re.compile(
    rf"(?:(?:{_DOMAIN})(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
)
"""A container image reference as the distribution spec writes it:
[registry[:port]/]path[:tag][@sha256:digest]."""
MAX_IMAGE = 255
DEFAULT_IMAGE = f"secmas:{secmas.__version__}"
"""The agents' image unless `--image` says otherwise: built from this source tree."""
NATS_IMAGE = "nats:2.10.29-alpine"
PODMAN_IMAGE = f"localhost/secmas-agent:{secmas.__version__}"
"""The agents' image for `podman kube play` here, as `secmas image build` tags it
(`secmas.deploy.image.agent_tag`; this module stays light for the command line)."""


class DeployInputError(ValueError):
    """A name, image or option that cannot go into the manifests; the message says which."""


def is_label(text: str) -> bool:
    """Whether `text` is a DNS-1123 label."""
    return len(text) <= MAX_LABEL and _LABEL.fullmatch(text) is not None


def dns_label(text: str, what: str, room: int = MAX_LABEL) -> str:
    """`text` mapped to a DNS-1123 label of at most `room` characters (module docstring);
    DeployInputError naming `what` (e.g. `pops[2].id`) when it cannot be one."""
    if not text.isascii():
        raise DeployInputError(f"{what} {text!r}: only ASCII letters, digits, '-', '_', '.', ':'")
    name = text.lower().translate(_SEPARATORS)
    if len(name) > room:
        raise DeployInputError(
            f"{what} {text!r}: too long for a Kubernetes name ({len(text)} characters, "
            f"at most {room})"
        )
    if not is_label(name):
        raise DeployInputError(
            f"{what} {text!r} cannot become a Kubernetes name: {name!r} must consist of "
            "a-z, 0-9 and '-' and begin and end with a letter or digit"
        )
    return name


def check_label(text: str, option: str) -> str:
    """A name the user gives (`--namespace`): used as it is, so it must be a label."""
    if not is_label(text):
        raise DeployInputError(
            f"{option} {text!r}: not a Kubernetes name (at most {MAX_LABEL} characters of "
            "a-z, 0-9 and '-', beginning and ending with a letter or digit)"
        )
    return text


def pop_names(pops: Sequence[str]) -> dict[str, str]:
    """Each PoP id's label (the agent's objects are `agent-<label>`); DeployInputError
    naming the PoP (`pops[i].id`) that cannot be mapped or that collides with another."""
    names: dict[str, str] = {}
    taken: dict[str, str] = {}
    for index, pop in enumerate(pops):
        label = dns_label(pop, f"pops[{index}].id", MAX_LABEL - len(AGENT_PREFIX))
        if label in taken:
            raise DeployInputError(
                f"pops[{index}].id {pop!r} and PoP {taken[label]!r} both become the "
                f"Kubernetes name {AGENT_PREFIX}{label}: rename one"
            )
        taken[label] = pop
        names[pop] = label
    return names


def check_image(image: str, option: str = "--image") -> str:
    """`image` if it is a container image reference, else DeployInputError naming `option`."""
    if len(image) > MAX_IMAGE or _IMAGE.fullmatch(image) is None:
        raise DeployInputError(
            f"{option} {image!r}: not a container image reference "
            "([registry[:port]/]name[:tag][@sha256:digest], e.g. registry.local:5000/secmas:0.1.0)"
        )
    return image
