"""The README, CONTRIBUTING and docs/ stand alone: every relative link, anchor and repository path they
name exists in this repository (nothing points outside it, at files a newcomer does not have)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
# Top-level entries of the checkout: a backticked path starting with one of them is a repository path.
TOP_LEVEL = {p.name for p in REPO.iterdir() if not p.name.startswith(".")}
LINK = re.compile(r"\]\(([^)\s]*)\)")
CODE = re.compile(r"`([^`\s]+)`")


def doc_id(path: Path) -> str:
    return str(path.relative_to(REPO))


def anchors(doc: Path) -> set[str]:
    """GitHub's anchors for a Markdown file's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.*)$", doc.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def broken_link(doc: Path, target: str) -> str | None:
    """Why a relative link from `doc` leads nowhere, or None when it opens."""
    if re.match(r"[a-z]+:", target):
        return None  # http:, https:, mailto:
    path, _, anchor = target.partition("#")
    file = (doc.parent / path) if path else doc
    if not file.exists():
        return f"{target}: no such file"
    if anchor and file.suffix == ".md" and anchor not in anchors(file):
        return f"{target}: no heading #{anchor} in {file.name}"
    if not file.resolve().is_relative_to(REPO):
        return f"{target}: outside the repository"
    return None


def missing_repo_path(text: str) -> str | None:
    """A backticked repository path (`agent/packs/host.yaml`, `docs/*.md`) that matches nothing."""
    path = text.rstrip(".,:;")
    if "/" not in path or path.split("/")[0] not in TOP_LEVEL or re.search(r"[<>{}$=]", path):
        return None
    if re.search(r"[*?\[]", path):
        return None if any(REPO.glob(path)) else path
    return None if (REPO / path).exists() else path


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_relative_link_opens(doc: Path) -> None:
    broken = [problem for target in LINK.findall(doc.read_text()) if (problem := broken_link(doc, target))]
    assert [] == broken


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_repository_path_named_exists(doc: Path) -> None:
    assert [] == [path for text in CODE.findall(doc.read_text()) if (path := missing_repo_path(text))]


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_nothing_points_outside_the_repository(doc: Path) -> None:
    """No design notes or workspaces a newcomer's checkout does not have."""
    assert [] == re.findall(r"(?:\.\./shared|/work/|DESIGN\.md|STYLE\.md)\S*", doc.read_text())


def test_the_checker_finds_a_path_that_moved_and_a_link_that_leads_nowhere() -> None:
    assert ["agent/packs/nope.yaml", None] == [missing_repo_path(p) for p in ("agent/packs/nope.yaml", "data/")]
    readme = REPO / "README.md"
    assert [None, "#nope: no heading #nope in README.md", "../x.md: no such file"] == [
        broken_link(readme, target) for target in ("#shipped-rule-packs", "#nope", "../x.md")
    ]
