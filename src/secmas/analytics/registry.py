"""The detectors installed as plug-ins: their names, fitting one by name, and loading any
model file one of them wrote.

A detector is a `secmas.analytics.scoring.WindowDetector` subclass named under the
`secmas.detectors` entry-point group (`secmas.plugins`): secmas registers its own there
(the LSTM autoencoder and the baselines of `secmas.analytics.detectors`), and a
researcher's distribution registers a new one the same way, in its own `pyproject.toml`:

    [project.entry-points."secmas.detectors"]
    mad = "my_detectors:MedianDeviation"

Once it is installed, `secmas detect fit --model mad` fits it, `--model auto` tries it
(after the benchmarked ones), and `secmas detect score` scores with the model file it
wrote. Every place that lists or picks a detector reads this registry; none lists them.

A model file records the kind of detector that wrote it (each class's `kind`), and is
read back by the installed detector of that kind: a model file of a kind that no
installed plug-in reads is refused, naming the kinds that are.

Listing the names imports no plug-in, nor torch, nor numpy: the command line builds its
choices from them before it knows whether it will fit anything (`secmas --help` too).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from secmas.plugins import Plugin, PluginError, plugins

if TYPE_CHECKING:
    import numpy as np

    from secmas.analytics.scoring import Fitting, WindowDetector

__all__ = [
    "GROUP",
    "benchmark_order",
    "detector_class",
    "detector_names",
    "fit_detector",
    "load_detector",
]

GROUP = "secmas.detectors"


def detector_names() -> tuple[str, ...]:
    """The installed detectors' names, sorted (no plug-in is imported to list them)."""
    return tuple(sorted(plugins(GROUP)))


def detector_class(name: str) -> type[WindowDetector]:
    """The installed detector `name`; PluginError naming the installed ones when there is
    none, or naming the plug-in when it cannot be loaded or is no detector."""
    found = plugins(GROUP)
    if name not in found:
        raise PluginError(
            f"no detector {name!r} is installed (installed: {', '.join(sorted(found)) or 'none'})"
        )
    return _load(found[name])


def _load(found: Plugin) -> type[WindowDetector]:
    from secmas.analytics.scoring import WindowDetector  # numpy: only once one is loaded

    loaded = found.load(WindowDetector)
    if not isinstance(loaded, type):
        raise PluginError(f"{found.where()}: is a fitted detector, not a detector class")
    if loaded.name != found.name or not loaded.kind:
        raise PluginError(
            f"{found.where()}: its class calls itself {loaded.name!r} with model-file kind "
            f"{loaded.kind!r}; a detector's name is its plug-in's name, and it needs a kind"
        )
    return loaded


def benchmark_order(names: Sequence[str] | None = None) -> tuple[str, ...]:
    """`names` (default: every installed detector) in the order `--model auto` tries them:
    by their standing in the benchmark, then the ones without one, by name."""
    chosen = detector_names() if names is None else tuple(dict.fromkeys(names))

    def rank(name: str) -> tuple[bool, int, str]:
        standing = detector_class(name).standing
        return standing is None, standing or 0, name

    return tuple(sorted(chosen, key=rank))


def fit_detector(
    name: str,
    values: np.ndarray,
    features: Sequence[str],
    fitting: Fitting | None = None,
) -> WindowDetector:
    """Fit the installed detector `name` on a normal series [T, F]; ValueError naming the
    installed detectors when there is no such one, or why it cannot be fitted."""
    from secmas.analytics.scoring import Fitting

    try:
        detector = detector_class(name)
    except PluginError as exc:
        raise ValueError(str(exc)) from None
    return detector.train(values, features, fitting or Fitting())


def load_detector(path: str | os.PathLike[str]) -> WindowDetector:
    """The detector a model file of `detect fit` holds, rebuilt by the installed detector
    of the kind it records; ModelFileError names the file and the problem (a kind that no
    installed detector reads among them)."""
    from secmas.analytics.modelfile import ModelFileError, load_model, malformed

    stored = load_model(path, None)
    found = plugins(GROUP)
    named_first = sorted(found.values(), key=lambda p: (p.name != stored.kind, p.name))
    readers: dict[str, str] = {}
    for candidate in named_first:
        try:
            detector = _load(candidate)
        except PluginError as exc:
            raise ModelFileError(f"{path}: {exc}") from None
        if detector.kind == stored.kind:
            try:
                return detector.restore(stored)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise malformed(path, stored.kind, exc) from None
        readers[detector.kind] = candidate.name
    known = ", ".join(f"{kind} ({name})" for kind, name in sorted(readers.items())) or "none"
    raise ModelFileError(
        f"{path} holds a {stored.kind!r} model, which no installed detector reads "
        f"(installed detectors read: {known})"
    )
