"""The repository carries every text it refers to: a docs/ page named in code, a link in
a guide, resolves to a file a person who clones the repository has."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS_PATH = re.compile(r"\bdocs/[\w./-]+\.(?:md|rst|py)\b")
MD_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _tracked(*suffixes):
    try:
        names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                               check=True, timeout=60).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the file list comes from git")
    return [ROOT / n for n in names if n.endswith(suffixes) or Path(n).name in suffixes]


def test_docs_pages_named_anywhere_exist():
    missing = []
    for path in _tracked(".py", ".md", ".toml", ".rst", "Makefile"):
        for ref in DOCS_PATH.findall(path.read_text(encoding="utf-8", errors="replace")):
            if not (ROOT / ref).exists():
                missing.append(f"{path.relative_to(ROOT)}: {ref}")
    assert not missing, missing


def test_markdown_links_resolve():
    missing = []
    for path in _tracked(".md"):
        for target in MD_LINK.findall(path.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (path.parent / target).exists():
                missing.append(f"{path.relative_to(ROOT)}: {target}")
    assert not missing, missing


def test_no_reference_to_files_outside_the_repository():
    """The claims and notes files of the project's source folder lived beside the project,
    not in it: docs/claims.md and docs/platform.md hold what they said. No file, this one
    included, names them."""
    outside = re.compile(r"\b(%s)\.md\b" % "|".join(["CLA" + "IMS", "NO" + "TES"]))
    stale = [f"{p.relative_to(ROOT)}"
             for p in _tracked(".py", ".md", ".toml", ".rst", "Makefile")
             if outside.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert not stale, stale
