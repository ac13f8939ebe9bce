"""mkdocs hook: pipes escaped inside code spans of table rows, as GitHub needs them.

GitHub's tables split a row at every `|`, even inside a code span, so the pages write
`--dataplane simulator\\|emulated` there. Python-Markdown already ignores pipes inside
code spans and would print the backslash, so this hook unescapes them before it renders.
"""

from __future__ import annotations

import re
from typing import Any

CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def unescape_table_code(markdown: str) -> str:
    """`markdown` with `\\|` inside code spans of table rows (lines starting with `|`)
    turned into `|`; code blocks are left as they are."""
    out, fence = [], None
    for line in markdown.split("\n"):
        opener = re.match(r"^\s*(```+|~~~+)", line)
        if opener:
            mark = opener.group(1)
            if fence is None:
                fence = mark
            elif mark.startswith(fence):
                fence = None
        elif fence is None and line.lstrip().startswith("|"):
            line = CODE_SPAN.sub(lambda m: m.group(0).replace("\\|", "|"), line)
        out.append(line)
    return "\n".join(out)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """mkdocs event: the page's Markdown before it renders."""
    return unescape_table_code(markdown)
