"""A guard against deeply nested JSON, checked before `json.loads` sees a frame.

`json` recurses in C. Once the recursion limit is raised (py_ecc, which the ledger stack
loads, sets 100 000), a few hundred kilobytes of `[` overflow the C stack and crash the
whole process instead of raising RecursionError. Every parser of frames from the network
or from files checks nesting first with `too_deep`.
"""

from __future__ import annotations

import re
from itertools import accumulate

# A string literal, its loop unrolled: runs of plain characters are taken in one step
# instead of one alternation per character (2.5x faster on frames of hex digests).
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def too_deep(text: str, max_depth: int) -> bool:
    """Whether arrays and objects in `text` nest deeper than `max_depth` (strings, which
    may hold brackets, are skipped). The strings and everything but brackets are cut out
    by regular expressions and the depth is a running sum, so a large frame costs C time,
    not a Python step per token."""
    if text.count("[") + text.count("{") <= max_depth:
        return False
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > max_depth
