"""The docs hold together: every relative link in README.md and docs/*.md resolves.

A link resolves when its file exists and, with a `#fragment`, that file has a heading whose
GitHub anchor is the fragment. Links inside code (fenced blocks, inline spans) are not links.
Also checks that the README links to every page of docs/ (a newcomer finds each in one click).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"(?<!\!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append(INLINE_CODE.sub("", line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase; keep letters, digits, '_', '-' and spaces; spaces
    become '-'. Inline markup (backticks, emphasis, links) is dropped first."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in " -" or cat[0] in "LMN" or cat == "Pc":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in prose_lines_keep_code(path.read_text()):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def prose_lines_keep_code(text: str) -> list[str]:
    """Lines outside fenced blocks, inline code kept (a heading's code text is in its anchor)."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            out.append(line)
    return out


def links(path: Path) -> list[str]:
    return [m.group(1) for line in prose_lines(path.read_text()) for m in LINK.finditer(line)]


def broken_links(path: Path) -> list[str]:
    """Each relative link of `path` that does not resolve, with the reason."""
    bad = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            bad.append(f"{path.name}: {target}: no file {dest}")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            bad.append(f"{path.name}: {target}: no heading #{fragment} in {dest.name}")
    return bad


def test_every_relative_link_resolves():
    files = doc_files()
    assert len(files) > 1, "docs/ has no pages"
    bad = [b for f in files for b in broken_links(f)]
    assert not bad, "broken links:\n" + "\n".join(bad)


def test_readme_links_every_docs_page():
    readme = ROOT / "README.md"
    linked = {(readme.parent / t.partition("#")[0]).resolve() for t in links(readme)}
    pages = {p.resolve() for p in (ROOT / "docs").glob("*.md")}
    unlinked = sorted(p.name for p in pages - linked)
    assert not unlinked, f"not linked from README.md: {unlinked}"


def test_checker_catches_broken_links(tmp_path):
    """The checker itself fails on a missing file, a missing anchor and a missing page link."""
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "a.md"
    page.write_text(
        "# Page A\n\n## The `seq_*` methods\n\n```\n[in code](nowhere.md)\n```\n"
        "[ok](#the-seq_-methods) [ok](../README.md#title) `[code](x.md)`\n"
        "[gone](missing.md) [no anchor](#nothing-here) [web](https://example.com/x)\n"
    )
    (tmp_path / "README.md").write_text("# Title\n")
    assert broken_links(page) == [
        f"a.md: missing.md: no file {tmp_path / 'docs' / 'missing.md'}",
        "a.md: #nothing-here: no heading #nothing-here in a.md",
    ]
    assert slug("Options: Black-Scholes, the oracle") == "options-black-scholes-the-oracle"
