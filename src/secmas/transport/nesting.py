"""A guard against deeply nested JSON, checked before `json.loads` sees a frame.

`json` recurses in C. Once the recursion limit is raised (py_ecc, which the ledger stack
loads, sets 100 000), a few hundred kilobytes of `[` overflow the C stack and crash the
whole process instead of raising RecursionError. Every parser of frames from the network
or from files checks nesting first with `too_deep`.
"""

from __future__ import annotations

import re

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def too_deep(text: str, max_depth: int) -> bool:
    """Whether arrays and objects in `text` nest deeper than `max_depth` (strings, which
    may hold brackets, are skipped)."""
    if text.count("[") + text.count("{") <= max_depth:
        return False
    depth = 0
    for token in _TOKENS.finditer(text):
        depth += _STEP.get(token.group(), 0)
        if depth > max_depth:
            return True
    return False
