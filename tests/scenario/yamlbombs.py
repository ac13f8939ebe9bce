"""YAML alias bombs ("billion laughs") for the tests of the bounded loader and its readers."""

from __future__ import annotations


def bomb(width: int, levels: int) -> str:
    """`levels` anchors, each a list of `width` aliases to the one before."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def expansion(width: int, levels: int) -> int:
    """Nodes the aliases of `bomb(width, levels)` repeat."""
    return sum(width * sum(width**k for k in range(level + 2)) for level in range(levels - 1))
