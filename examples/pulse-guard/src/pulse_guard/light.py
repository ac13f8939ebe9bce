"""`light_classifier`: the built-in Classifier under a catalogue name of its own.

A goal's plan belongs to the goal, so a VNF that only runs another size of a built-in one
(here a lighter Classifier: one core and 2 GB a unit, half the throughput, a 20 MB image,
all said in the scenario's catalogue) needs no code of its own beyond its name: the
guide's YAML-only example (docs/guides/own-strategy.md) names it in `flowRecord`'s VNFs.
"""

from __future__ import annotations

from secmas.agents.ddos.classifier import Classifier


class LightClassifier(Classifier):
    """AIPF, as the Classifier runs it, on an instance the catalogue sizes apart."""

    name = "light_classifier"
