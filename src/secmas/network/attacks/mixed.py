"""The mixed attack: the three network attacks of the real-CNF demo at once, the
attackers taking turns."""

from __future__ import annotations

from secmas.network.attack import AttackPlugin
from secmas.scenario.model import Attack

MIXED: tuple[str, ...] = ("http_flood", "slowloris", "syn_flood")
"""What its attackers send in turn: attacker i sends MIXED[i mod 3]."""


class Mixed(AttackPlugin):
    """HTTP flood, Slowloris and SYN flood from every third attacker each; two of them
    complete handshakes, so its sources cannot be forged."""

    handshakes = True

    def sends(self, attack: Attack, index: int) -> str:
        """Attacker `index`'s turn of `MIXED`."""
        return MIXED[index % len(MIXED)]
