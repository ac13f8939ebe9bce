"""The documentation site builds, strictly, and says what the code has.

`mkdocs build --strict` fails on a broken link or anchor between pages, a nav entry to a
missing page and a mkdocstrings reference that does not resolve; the README stays a
landing page whose links all lead somewhere; every command of the `secmas` app has its
page (hand-written prose and its generated help), every glossary link leads to an entry
and a term's first use on each main page links to it, and every error message quoted in
Troubleshooting is still one the code prints.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from secmas.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
QUICK_START = (
    "./scripts/setup && .venv/bin/secmas demo",
    "./scripts/setup --test && .venv/bin/python -m pytest",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `mkdocs build --strict` writes it, into a temporary folder."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.fail("mkdocs is not installed: ./scripts/setup --test installs it")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def _commands(command: Any, words: list[str]) -> Iterator[list[str]]:
    """The words of every command under the click command `command`, itself first."""
    yield words
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, [*words, name])


def test_the_site_builds_strictly(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert (site / "getting-started" / "index.html").is_file()
    assert not (site / "hooks").exists(), "the build hooks are not part of the site"


def test_the_api_reference_is_generated_from_the_docstrings(site: Path) -> None:
    page = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("run.run", "run.plan", "run.execute", "run.RunResult", "placement.Processes"):
        assert f'id="secmas.api.{name}"' in page, name
    assert "Run <code>scenario</code> end to end" in page


def test_the_readme_is_a_landing_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    start = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    for command in QUICK_START:
        assert f"```bash\n{command}\n```" in text
        assert f"```bash\n{command}\n```" in start
    assert ".venv/bin/mkdocs serve" in text and ".venv/bin/mkdocs build" in text


def test_the_readme_links_lead_to_files_and_anchors_that_exist(site: Path) -> None:
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert len([t for t in targets if t.startswith("docs/")]) >= 15
    broken = []
    for target in targets:
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        if not (ROOT / path).exists():
            broken.append(target)
        elif anchor and path.startswith("docs/") and path.endswith(".md"):
            built = site / path.removeprefix("docs/").removesuffix(".md").removesuffix("index")
            html = (built / "index.html").read_text(encoding="utf-8")
            if f'id="{anchor}"' not in html:
                broken.append(target)
    assert not broken


GLOSSARY = ROOT / "docs" / "reference" / "glossary.md"
COMMAND_PROSE = ROOT / "docs" / "reference" / "commands"
TROUBLESHOOTING = ROOT / "docs" / "troubleshooting.md"
MAIN_PAGES = (
    "index.md",
    "getting-started.md",
    "tutorial.md",
    "architecture.md",
    *sorted(f"guides/{p.name}" for p in (ROOT / "docs" / "guides").glob("*.md")),
)
"""The pages a newcomer reads first: a glossary term's first use on each is a link."""
LINKED_TERMS = {
    "MLFO": "mlfo",
    "IML": "iml",
    "SECaaS": "secaas",
    "RoT": "rot",
    "SSLA": "ssla",
    "PoP": "pop",
    "NFVI": "nfvi",
    "VNF": "vnf",
    "CNF": "cnf",
    "BDI": "bdi",
    "NFV-A": "nfv-a",
    "MTD": "mtd",
    "CTI": "cti",
    "FedAvg": "fedavg",
    "STIX": "stix-taxii",
    "Link Monitor": "link-monitor",
    "mutual attestation": "mutual-attestation",
    "reverse auction": "reverse-auction",
    "secure aggregation": "secure-aggregation",
}
"""Terms whose first use on a main page must link to their glossary entry, and the entry."""
ANY_LINK = re.compile(r"!?\[(?:[^\]`]|`[^`]*`)*\]\(([^)\s]*)\)")
GLOSSARY_LINK = re.compile(r"\[((?:[^\]`]|`[^`]*`)*)\]\(([^)\s]*glossary\.md)#([\w-]+)\)")
NOT_PROSE = re.compile(
    r"^[ \t]*(```|~~~)[^\n]*\n.*?^[ \t]*\1[ \t]*$|`[^`\n]*`|^#+ [^\n]*$", re.M | re.S
)


def _hidden(text: str) -> list[bool]:
    """Per character of a page's Markdown, whether it is not prose a reader takes a term
    from: code, headings, and the text of links to anything but the glossary."""
    hidden = [False] * len(text)
    spans = [m.span() for m in NOT_PROSE.finditer(text)]
    spans += [m.span() for m in ANY_LINK.finditer(text) if "glossary.md#" not in m.group(1)]
    spans += [m.span(2) for m in GLOSSARY_LINK.finditer(text)]
    for start, end in spans:
        hidden[start:end] = [True] * (end - start)
    return hidden


def first_use(text: str, term: str) -> re.Match[str] | None:
    """The first mention of `term` (plural included) in the prose of `text`."""
    hidden = _hidden(text)
    pattern = re.compile(rf"(?<![\w/.#-]){re.escape(term)}s?(?![\w-])")
    return next((m for m in pattern.finditer(text) if not any(hidden[m.start() : m.end()])), None)


def glossary_ids() -> list[str]:
    """The ids of the glossary's entries, in the page's order."""
    return re.findall(r"^## .+ \{#([\w-]+)\}$", GLOSSARY.read_text(encoding="utf-8"), re.M)


def _hook() -> Any:
    """The mkdocs hook that builds the command pages, loaded from its file."""
    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "docs/hooks/cli_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_command_has_a_page_with_its_prose_and_help(site: Path) -> None:
    every = list(_commands(typer.main.get_command(app), ["secmas"]))
    assert len(every) > 25
    prose = {p.name for p in COMMAND_PROSE.glob("*.md")} - {"index.md"}
    assert prose == {f"{'-'.join(words)}.md" for words in every}
    index = (site / "reference" / "commands" / "index.html").read_text(encoding="utf-8")
    assert "&lt;pop&gt;.nk" in index, "a placeholder in a summary taken for an HTML tag"
    for words in every:
        name = "-".join(words)
        written = (COMMAND_PROSE / f"{name}.md").read_text(encoding="utf-8")
        assert len(written.split()) >= 12, f"{name}: no prose"
        assert not written.startswith("# "), f"{name}: the hook writes the title"
        assert "Usage:" not in written, f"{name}: the help is generated, never copied"
        page = (site / "reference" / "commands" / name / "index.html").read_text(encoding="utf-8")
        assert f"Usage: {' '.join(words)} " in page, name
        assert f'href="{name}/"' in index, f"{name}: not in the index"


def test_a_command_without_prose_fails_the_build(tmp_path: Path) -> None:
    hook = _hook()
    root = typer.main.get_command(app)
    for source in COMMAND_PROSE.glob("*.md"):
        (tmp_path / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    assert len(hook.pages(root, tmp_path)) == len(list(COMMAND_PROSE.glob("*.md")))
    (tmp_path / "secmas-audit-show.md").unlink()
    with pytest.raises(hook.MissingProse, match="secmas-audit-show"):
        hook.pages(root, tmp_path)
    (tmp_path / "secmas-audit-show.md").write_text("text", encoding="utf-8")
    (tmp_path / "secmas-gone.md").write_text("text", encoding="utf-8")
    with pytest.raises(hook.MissingProse, match="secmas-gone"):
        hook.pages(root, tmp_path)


def test_no_page_links_to_the_old_single_commands_page() -> None:
    pages = [README, *(ROOT / "docs").rglob("*.md")]
    stale = [
        p
        for p in pages
        if re.search(
            r"reference/commands\.md|\(commands\.md|cli\.md", p.read_text(encoding="utf-8")
        )
    ]
    assert not stale


def test_every_glossary_term_is_defined_once_and_every_link_resolves() -> None:
    ids = glossary_ids()
    assert len(ids) >= 40
    assert len(ids) == len(set(ids)), "a term defined twice"
    titles = re.findall(r"^## (.+) \{#", GLOSSARY.read_text(encoding="utf-8"), re.M)
    assert titles == sorted(titles, key=str.lower), "entries out of alphabetical order"
    text = GLOSSARY.read_text(encoding="utf-8")
    entries = re.split(r"^## .+$", text, flags=re.M)[1:]
    assert all(len(entry.split()) >= 15 for entry in entries), "an entry without a definition"
    broken = []
    for page in [*(ROOT / "docs").rglob("*.md"), README]:
        for match in GLOSSARY_LINK.finditer(page.read_text(encoding="utf-8")):
            target = (page.parent / match.group(2)).resolve()
            if target != GLOSSARY or match.group(3) not in ids:
                broken.append(f"{page.relative_to(ROOT)}: {match.group(0)}")
    for match in re.finditer(r"\]\(#([\w-]+)\)", text):
        if match.group(1) not in ids:
            broken.append(f"glossary: {match.group(0)}")
    assert not broken


def test_the_first_use_of_a_term_on_each_main_page_links_to_the_glossary() -> None:
    assert set(LINKED_TERMS.values()) <= set(glossary_ids())
    unlinked = []
    for name in MAIN_PAGES:
        text = (ROOT / "docs" / name).read_text(encoding="utf-8")
        for term, entry in LINKED_TERMS.items():
            use = first_use(text, term)
            linked = [
                m
                for m in GLOSSARY_LINK.finditer(text)
                if m.start(1) <= (use.start() if use else -1) < m.end(1)
            ]
            if use is not None and not (linked and linked[0].group(3) == entry):
                unlinked.append(f"{name}: {term}")
    assert not unlinked


def test_first_use_sees_only_prose() -> None:
    text = "# MLFO\n\n`MLFO`, [the MLFO](x.md)\n```\nMLFO\n```\nthe [MLFO](g/glossary.md#mlfo) MLFO"
    use = first_use(text, "MLFO")
    assert use is not None and text[use.start() - 1] == "["
    assert first_use("the MLFOs", "MLFO") is not None
    assert first_use("secmas-MLFO and MLFOX", "MLFO") is None


def test_every_message_quoted_in_troubleshooting_is_still_in_the_code() -> None:
    sources = [*(ROOT / "src" / "secmas").rglob("*.py"), ROOT / "scripts" / "setup"]
    # a string literal continued on the next line is read as one
    code = re.sub(r"\"\s*\n\s*f?\"", "", "\n".join(p.read_text(encoding="utf-8") for p in sources))
    blocks = re.findall(r"```text\n(.*?)```", TROUBLESHOOTING.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 15
    missing = []
    for line in "".join(blocks).splitlines():
        for fragment in line.removeprefix("error: ").split("…"):
            if fragment.strip(" :") not in code:
                missing.append(f"{fragment!r} (in {line!r})")
    assert not missing
